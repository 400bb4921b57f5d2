package selector

import (
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// benchCatalog spreads n middle routes over visible totals 0.04–0.40 (some
// outside the band and the cap), ten model families, 5% paused; its health
// has 2% of routes down and mild error rates and latencies elsewhere.
func benchCatalog(b *testing.B, n int) (*Index, fakeHealth) {
	b.Helper()
	var routes []config.Route
	for i := range n {
		k := int64((i * 7919) % n) // scatter catalog order
		total := 40_000 + 360_000*k/int64(n)
		in := total * 3 / 10
		rt := route(fmt.Sprintf("route_%05d", i), "middle", fmt.Sprintf("fam_%d", i%10),
			decimal.New(in, -6).String(), decimal.New(total-in, -6).String())
		if i%20 == 7 {
			rt = paused(rt)
		}
		routes = append(routes, rt)
	}
	ix := mustIndex(b, catalog(routes...))
	h := make(fakeHealth, ix.NumRoutes())
	for i := range h {
		h[i] = RouteHealth{Down: i%50 == 3, ErrorRate: float64(i%4) / 100, LatencySeconds: float64(i%5) / 10}
	}
	return ix, h
}

func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		ix, fh := benchCatalog(b, n)
		var h Health = fh
		tier, _ := ix.Tier("cpen/middle")
		// The pin: a fitting live route in the middle of the price range.
		var pinned *Route
		for _, r := range tier.Routes() {
			if r.VisibleTotal.LessThanOrEqual(mustDec("0.25")) && r.Status == config.RouteLive && !fh[r.Index].Down {
				pinned = r
			}
		}
		pin := &Pin{RouteID: pinned.ID, ModelFamily: pinned.ModelFamily, VisibleTotal: pinned.VisibleTotal}
		fhDown := append(fakeHealth(nil), fh...)
		fhDown[pinned.Index].Down = true
		var hDown Health = fhDown
		cases := []struct {
			name string
			req  Request
			h    Health
		}{
			{"cheapest", Request{Strategy: StrategyCheapest, MaxTotal: capOf("0.30")}, h},
			{"balanced", Request{Strategy: StrategyBalanced, MaxTotal: capOf("0.30")}, h},
			{"continuity", Request{Strategy: StrategyContinuity, MaxTotal: capOf("0.30"), Pin: pin}, h},
			{"continuity_new_pin", Request{Strategy: StrategyContinuity, MaxTotal: capOf("0.30")}, h},
			{"continuity_repin", Request{Strategy: StrategyContinuity, MaxTotal: capOf("0.30"), Pin: pin}, hDown},
			{"cheapest_nothing_fits", Request{Strategy: StrategyCheapest, MaxInput: capOf("0.0001")}, h},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("routes=%d/%s", n, c.name), func(b *testing.B) {
				req := c.req
				req.Alias = "cpen/middle"
				var d Decision
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					req.Spread = uint64(i)
					err := ix.Select(&req, c.h, &d)
					if err != nil && c.name != "cheapest_nothing_fits" {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
