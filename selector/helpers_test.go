package selector

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// dec parses an exact decimal or fails the test.
func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

// mustDec parses a decimal known to be valid (table literals).
func mustDec(s string) decimal.Decimal {
	return decimal.RequireFromString(s)
}

func capOf(s string) Bound { return Bound{Set: true, Value: mustDec(s)} }

// seedTiers are the three public tiers: cpen/low and cpen/middle
// available, cpen/high planned.
func seedTiers() []config.Tier {
	return []config.Tier{
		{Alias: "cpen/low", Level: "low", MinTotal: mustDec("0.02"), MaxTotal: mustDec("0.20"), Status: config.TierAvailable},
		{Alias: "cpen/middle", Level: "middle", MinTotal: mustDec("0.05"), MaxTotal: mustDec("0.35"), Status: config.TierAvailable},
		{Alias: "cpen/high", Level: "high", MinTotal: mustDec("0.20"), MaxTotal: mustDec("1.00"), Status: config.TierPlanned},
	}
}

// route builds a live USD route with no RPM limit.
func route(id, level, family, in, out string) config.Route {
	return config.Route{
		ID: id, Tier: level, Provider: "openai", Model: "model-" + id, ModelFamily: family,
		InputPer1M: mustDec(in), OutputPer1M: mustDec(out), Currency: "USD", Status: config.RouteLive,
	}
}

func paused(r config.Route) config.Route {
	r.Status = config.RoutePaused
	return r
}

func inEUR(r config.Route) config.Route {
	r.Currency = "EUR"
	return r
}

// catalog builds a catalog with the seed tiers, fee 0, share 0.3, EUR 1.08.
func catalog(routes ...config.Route) *config.Catalog {
	return &config.Catalog{
		FeeRate:    mustDec("0"),
		InputShare: mustDec("0.3"),
		USDRates:   map[string]decimal.Decimal{"USD": mustDec("1"), "EUR": mustDec("1.08")},
		Tiers:      seedTiers(),
		Routes:     routes,
	}
}

// seedCatalog mirrors config/default_catalog.yaml.
func seedCatalog() *config.Catalog {
	return catalog(
		route("route_low_01", "low", "gpt-nano-class", "0.02", "0.08"),
		inEUR(route("route_low_02", "low", "mistral-small-class", "0.02", "0.06")),
		route("route_mid_01", "middle", "gpt-mini-or-flash-class", "0.04", "0.24"),
		route("route_mid_02", "middle", "gpt-mini-or-flash-class", "0.06", "0.26"),
		inEUR(route("route_mid_03", "middle", "mistral-medium-class", "0.05", "0.25")),
		route("route_high_01", "high", "gpt-large-class", "0.20", "0.60"),
	)
}

func mustIndex(t testing.TB, cat *config.Catalog) *Index {
	t.Helper()
	ix, err := NewIndex(cat)
	if err != nil {
		t.Fatalf("NewIndex: %v", err)
	}
	return ix
}

// fakeHealth is a Health over a slice indexed by Route.Index.
type fakeHealth []RouteHealth

func (h fakeHealth) Route(i int) RouteHealth {
	if i < 0 || i >= len(h) {
		return RouteHealth{}
	}
	return h[i]
}

var _ Health = fakeHealth(nil)

// healthOf builds a fakeHealth from per-route-id states.
func healthOf(t testing.TB, ix *Index, states map[string]RouteHealth) fakeHealth {
	t.Helper()
	h := make(fakeHealth, ix.NumRoutes())
	for id, s := range states {
		r, ok := ix.RouteByID(id)
		if !ok {
			t.Fatalf("no route %q", id)
		}
		h[r.Index] = s
	}
	return h
}
