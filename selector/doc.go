// Package selector chooses a provider route for one request under exact
// decimal USD price caps, by the strategies the README describes
// ("Strategies").
//
// NewIndex compiles a config.Catalog once into an immutable Index that many
// requests read concurrently. Select then picks a route without I/O, without
// goroutines and without allocating: prices are compared as int64 fixed-point
// values at scale 1e12 that were precomputed from the exact decimals, and live
// route state (ejection, provider capacity, error rate, latency) comes from a
// caller-supplied Health view.
//
// The balanced strategy weighs price with observed health:
//
//	score = visible_total × (1 + 2·error_rate) × (1 + latency_seconds/10)
//
// Fitting routes whose score is within 2% of the best score are near-equal,
// and the request's Spread picks one of them (Spread mod n, in price order),
// which spreads load over them. Without health data the score is the price,
// so balanced picks the cheapest fitting route unless another one is priced
// within 2% of it.
package selector
