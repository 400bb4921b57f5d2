package selector

// RouteHealth is the live state of one route. Error rate and latency are
// measurements, not money, so they are floats.
type RouteHealth struct {
	Down           bool    // ejected after failures
	AtCapacity     bool    // the provider's RPM limit for the route is reached
	ErrorRate      float64 // 0..1, recent share of failed requests
	LatencySeconds float64 // recent typical latency
}

// Health is a read-only view of live route state, indexed by Route.Index.
// Implementations must be safe for concurrent use and should not allocate.
type Health interface {
	Route(index int) RouteHealth
}

// routeHealth reads h, treating a nil Health as all routes healthy.
func routeHealth(h Health, index int32) RouteHealth {
	if h == nil {
		return RouteHealth{}
	}
	return h.Route(int(index))
}

// available reports whether a route in status live may take this request.
func (rh RouteHealth) available() bool { return !rh.Down && !rh.AtCapacity }

// errorRate is ErrorRate clamped to [0, 1]; NaN counts as 0.
func (rh RouteHealth) errorRate() float64 {
	switch e := rh.ErrorRate; {
	case e > 1:
		return 1
	case e > 0:
		return e
	}
	return 0
}

// latency is LatencySeconds clamped to [0, 1e6]; NaN counts as 0.
func (rh RouteHealth) latency() float64 {
	switch l := rh.LatencySeconds; {
	case l > 1e6:
		return 1e6
	case l > 0:
		return l
	}
	return 0
}

// score is the balanced price-performance score (lower is better):
//
//	price × (1 + 2·error_rate) × (1 + latency_seconds/10)
//
// It is never below price, for price ≥ 0.
func (rh RouteHealth) score(price float64) float64 {
	return price * (1 + 2*rh.errorRate()) * (1 + rh.latency()/10)
}

// healthier orders routes of equal price for cheapest: lower error rate,
// then lower latency.
func (rh RouteHealth) healthier(than RouteHealth) bool {
	if a, b := rh.errorRate(), than.errorRate(); a != b {
		return a < b
	}
	return rh.latency() < than.latency()
}

// nearEqual reports score ≤ best × 1.02, computed as 100·score ≤ 102·best
// so that integer prices compare exactly.
func nearEqual(score, best float64) bool { return score*100 <= best*102 }
