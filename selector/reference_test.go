package selector

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// This file checks Select against a slow reference written directly from
// the price and strategy rules (computePrices, README "Strategies") with
// exact decimal arithmetic, on random catalogs that mix prices on and off
// the 1e-12 grid.

func randPrice(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0: // off the grid: 15 fractional digits
		return decimal.New(r.Int64N(200_000_000_000_000), -15).String()
	case 1: // coarse, so equal totals are common
		return decimal.New(r.Int64N(20), -2).String()
	}
	return decimal.New(r.Int64N(200_000), -6).String()
}

type refCase struct {
	routes []config.Route
	health fakeHealth
	req    Request
}

func randCase(r *rand.Rand, ix func(*config.Catalog) *Index) (*Index, refCase) {
	var c refCase
	n := 1 + r.IntN(40)
	if r.IntN(8) == 0 {
		n = 100 + r.IntN(300) // several blocks of blockSize routes
	}
	for i := range n {
		rt := route(fmt.Sprintf("r%02d", r.IntN(100)*1000+i), "middle", fmt.Sprintf("f%d", r.IntN(3)), randPrice(r), randPrice(r))
		if r.IntN(10) == 0 {
			rt = paused(rt)
		}
		if r.IntN(4) == 0 {
			rt = inEUR(rt)
		}
		c.routes = append(c.routes, rt)
	}
	index := ix(catalog(c.routes...))
	c.health = make(fakeHealth, index.NumRoutes())
	for i := range c.health {
		c.health[i] = RouteHealth{
			Down: r.IntN(10) == 0, AtCapacity: r.IntN(20) == 0,
			ErrorRate: float64(r.IntN(3)) / 10, LatencySeconds: float64(r.IntN(3)),
		}
	}
	c.req = Request{Alias: "cpen/middle", MinTotal: capOf("0"), MaxTotal: capOf(decimal.New(r.Int64N(500_000), -6).String())}
	if r.IntN(2) == 0 {
		c.req.MinTotal = capOf(decimal.New(r.Int64N(100_000), -6).String())
	}
	if r.IntN(3) == 0 {
		c.req.MaxInput = capOf(decimal.New(r.Int64N(200_000), -6).String())
	}
	if r.IntN(3) == 0 {
		c.req.MaxOutput = capOf(decimal.New(r.Int64N(200_000), -6).String())
	}
	return index, c
}

func refFits(rt *Route, req *Request) bool {
	return (!req.MaxInput.Set || rt.VisibleInput.LessThanOrEqual(req.MaxInput.Value)) &&
		(!req.MaxOutput.Set || rt.VisibleOutput.LessThanOrEqual(req.MaxOutput.Value)) &&
		rt.VisibleTotal.LessThanOrEqual(req.MaxTotal.Value) &&
		rt.VisibleTotal.GreaterThanOrEqual(req.MinTotal.Value)
}

func refCandidates(ix *Index, c *refCase) []*Route {
	var out []*Route
	for _, rt := range ix.Routes() {
		h := c.health[rt.Index]
		if rt.Status == config.RouteLive && !h.Down && !h.AtCapacity && refFits(rt, &c.req) {
			out = append(out, rt)
		}
	}
	return out
}

func refCheapest(ix *Index, c *refCase) *Route {
	cands := refCandidates(ix, c)
	slices.SortFunc(cands, func(a, b *Route) int {
		if x := a.VisibleTotal.Cmp(b.VisibleTotal); x != 0 {
			return x
		}
		ha, hb := c.health[a.Index], c.health[b.Index]
		if x := cmp.Compare(ha.ErrorRate, hb.ErrorRate); x != 0 {
			return x
		}
		if x := cmp.Compare(ha.LatencySeconds, hb.LatencySeconds); x != 0 {
			return x
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(cands) == 0 {
		return nil
	}
	return cands[0]
}

func refRepin(ix *Index, c *refCase, pin *Pin) *Route {
	cands := refCandidates(ix, c)
	var same []*Route
	for _, rt := range cands {
		if rt.ModelFamily == pin.ModelFamily {
			same = append(same, rt)
		}
	}
	if len(same) > 0 {
		cands = same
	}
	slices.SortFunc(cands, func(a, b *Route) int {
		da := a.VisibleTotal.Sub(pin.VisibleTotal).Abs()
		db := b.VisibleTotal.Sub(pin.VisibleTotal).Abs()
		if x := da.Cmp(db); x != 0 {
			return x
		}
		if x := a.VisibleTotal.Cmp(b.VisibleTotal); x != 0 {
			return x
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(cands) == 0 {
		return nil
	}
	return cands[0]
}

func idOf(r *Route) string {
	if r == nil {
		return "<none>"
	}
	return r.ID
}

func TestSelectMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 7))
	build := func(cat *config.Catalog) *Index { return mustIndex(t, cat) }
	for trial := range 3000 {
		ix, c := randCase(r, build)

		// cheapest
		c.req.Strategy = StrategyCheapest
		var d Decision
		err := ix.Select(&c.req, c.health, &d)
		want := refCheapest(ix, &c)
		if got := d.Route; (err != nil) != (want == nil) || (want != nil && got != want) {
			t.Fatalf("trial %d cheapest: got %s (%v), want %s", trial, idOf(got), err, idOf(want))
		}

		// continuity repin, pin down or gone
		pin := &Pin{RouteID: "gone", ModelFamily: fmt.Sprintf("f%d", r.IntN(4)), VisibleTotal: mustDec(randPrice(r)).Add(mustDec(randPrice(r)))}
		if routes := ix.Routes(); r.IntN(2) == 0 {
			p := routes[r.IntN(len(routes))]
			pin.RouteID = p.ID
			c.health[p.Index].Down = true
		}
		c.req.Strategy, c.req.Pin = StrategyContinuity, pin
		err = ix.Select(&c.req, c.health, &d)
		want = refRepin(ix, &c, pin)
		if got := d.Route; (err != nil) != (want == nil) || (want != nil && got != want) {
			t.Fatalf("trial %d repin to %s (pin %+v): got %s (%v), want %s", trial, pin.VisibleTotal, pin, idOf(got), err, idOf(want))
		}
		if want != nil && d.ReasonCode != ReasonContinuityRepinned {
			t.Fatalf("trial %d: reason code %s", trial, d.ReasonCode)
		}
	}
}
