package state

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

// TestHealthBackoff pins the ejection policy: the first failure ejects at
// once for EjectBase, a failure of a request sent once the ejection ended
// doubles it up to EjectMax, a success ends the streak, outcomes of
// requests sent before the latest ejection change nothing, and a
// provider's Retry-After lengthens an ejection up to RetryAfterMax.
func TestHealthBackoff(t *testing.T) {
	type obs struct {
		at, latency time.Duration
		failed      bool
		retryAfter  time.Duration
	}
	fail := func(at time.Duration) obs { return obs{at: at, failed: true} }
	tests := []struct {
		name      string
		outcomes  []obs
		wantUntil time.Duration // after t0
	}{
		{name: "the first failure ejects at once", outcomes: []obs{fail(0)}, wantUntil: EjectBase},
		{name: "failures while ejected do not double", outcomes: []obs{fail(0), fail(500 * time.Millisecond)}, wantUntil: EjectBase},
		{name: "a failure once back doubles", outcomes: []obs{fail(0), fail(time.Second)}, wantUntil: 3 * time.Second},
		{name: "doubling continues", outcomes: []obs{fail(0), fail(1 * time.Second), fail(3 * time.Second), fail(7 * time.Second)}, wantUntil: 15 * time.Second},
		{name: "doubling stops at EjectMax", outcomes: []obs{
			fail(0), fail(1 * time.Second), fail(3 * time.Second), fail(7 * time.Second), fail(15 * time.Second),
			fail(31 * time.Second), fail(63 * time.Second), fail(123 * time.Second),
		}, wantUntil: 183 * time.Second},
		{name: "a success ends the streak", outcomes: []obs{fail(0), fail(time.Second), {at: 3 * time.Second}, fail(4 * time.Second)}, wantUntil: 5 * time.Second},
		{name: "a success sent before the ejection does not end it", outcomes: []obs{
			fail(0), {at: time.Second, latency: 2 * time.Second}, fail(time.Second),
		}, wantUntil: 3 * time.Second},
		{name: "a failure sent before the ejection ended does not double", outcomes: []obs{
			fail(0), {at: 1500 * time.Millisecond, latency: time.Second, failed: true},
		}, wantUntil: EjectBase},
		{name: "Retry-After longer than the back-off", outcomes: []obs{{at: 0, failed: true, retryAfter: 10 * time.Second}}, wantUntil: 10 * time.Second},
		{name: "Retry-After shorter than the back-off", outcomes: []obs{{at: 0, failed: true, retryAfter: 500 * time.Millisecond}}, wantUntil: EjectBase},
		{name: "Retry-After bounded by RetryAfterMax", outcomes: []obs{{at: 0, failed: true, retryAfter: time.Hour}}, wantUntil: RetryAfterMax},
		{name: "Retry-After of a failure while ejected lengthens it", outcomes: []obs{
			fail(0), {at: 500 * time.Millisecond, failed: true, retryAfter: 30 * time.Second},
		}, wantUntil: 30*time.Second + 500*time.Millisecond},
		{name: "a doubled back-off outlasts a short Retry-After", outcomes: []obs{
			fail(0), fail(time.Second), {at: 3 * time.Second, failed: true, retryAfter: time.Second},
		}, wantUntil: 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHealth("r0", "r1")
			for _, o := range tt.outcomes {
				if o.retryAfter > 0 {
					h.ObserveFailure(1, o.latency, o.retryAfter, at(o.at))
				} else {
					h.Observe(1, o.latency, o.failed, at(o.at))
				}
			}
			if got, want := h.DownUntil(1), at(tt.wantUntil); !got.Equal(want) {
				t.Errorf("DownUntil = %v, want t0+%v", got.Sub(t0), tt.wantUntil)
			}
			if !h.At(at(tt.wantUntil - 1)).Route(1).Down {
				t.Error("not Down just before DownUntil")
			}
			if h.At(at(tt.wantUntil)).Route(1).Down {
				t.Error("still Down at DownUntil")
			}
			if last := tt.outcomes[len(tt.outcomes)-1].at; last < tt.wantUntil {
				h.Advance(at(tt.wantUntil - 1))
				if !h.Route(1).Down {
					t.Error("after Advance, Route.Down is false before DownUntil")
				}
			}
			if h.Route(0) != (selector.RouteHealth{}) || !h.DownUntil(0).IsZero() {
				t.Errorf("other route touched: %+v", h.Route(0))
			}
		})
	}
}

func TestHealthAverages(t *testing.T) {
	h := NewHealth("r0")
	steps := []struct {
		latency  time.Duration
		failed   bool
		wantErr  float64
		wantLatS float64
	}{
		{latency: time.Second, wantErr: 0, wantLatS: 1},                       // first sample sets latency
		{latency: 2 * time.Second, wantErr: 0, wantLatS: 1.2},                 // 1 + 0.2·(2−1)
		{latency: 9 * time.Second, failed: true, wantErr: 0.2, wantLatS: 1.2}, // failures leave latency alone
		{latency: 1200 * time.Millisecond, wantErr: 0.16, wantLatS: 1.2},
	}
	for i, s := range steps {
		h.Observe(0, s.latency, s.failed, at(time.Duration(i)*time.Second))
		got := h.Route(0)
		if math.Abs(got.ErrorRate-s.wantErr) > 1e-12 || math.Abs(got.LatencySeconds-s.wantLatS) > 1e-12 {
			t.Errorf("step %d: error rate %v latency %v, want %v %v", i, got.ErrorRate, got.LatencySeconds, s.wantErr, s.wantLatS)
		}
	}
}

func TestHealthRouteCapacity(t *testing.T) {
	h := NewHealth("r0")
	steps := []struct {
		at       time.Duration
		limit    int
		want     bool
		wantFull bool
	}{
		{at: 0, limit: 2, want: true, wantFull: false},
		{at: 10 * time.Second, limit: 2, want: true, wantFull: true},
		{at: 20 * time.Second, limit: 2, want: false, wantFull: true},
		{at: 60 * time.Second, limit: 2, want: true, wantFull: true},  // the first left; full again
		{at: 75 * time.Second, limit: 0, want: true, wantFull: false}, // unlimited
	}
	for i, s := range steps {
		if got := h.AdmitRoute(0, s.limit, at(s.at)); got != s.want {
			t.Fatalf("step %d: AdmitRoute = %v, want %v", i, got, s.want)
		}
		if got := h.Route(0).AtCapacity; got != s.wantFull {
			t.Fatalf("step %d: AtCapacity = %v, want %v", i, got, s.wantFull)
		}
	}
	// Capacity frees when the oldest admission leaves, without a write.
	h2 := NewHealth("r0")
	h2.AdmitRoute(0, 1, t0)
	if !h2.At(at(59*time.Second)).Route(0).AtCapacity || h2.At(at(60*time.Second)).Route(0).AtCapacity {
		t.Error("capacity does not free after the window")
	}
}

// A call with a lower limit is denied until enough admissions leave, and
// removes none: the route's window still holds them all.
func TestHealthRouteCapacityLowerLimit(t *testing.T) {
	h := NewHealth("r0")
	for i := range 3 {
		if !h.AdmitRoute(0, 3, at(time.Duration(i)*time.Second)) {
			t.Fatalf("admission %d denied", i)
		}
	}
	if h.AdmitRoute(0, 2, at(3*time.Second)) {
		t.Fatal("limit 2 admitted with 3 in the window")
	}
	// 3 in the window, limit 2: full until the 2nd oldest (t=1s) leaves.
	if !h.At(at(61*time.Second-1)).Route(0).AtCapacity || h.At(at(61*time.Second)).Route(0).AtCapacity {
		t.Error("limit 2 does not read full until the 2nd oldest admission leaves")
	}
	if h.AdmitRoute(0, 3, at(4*time.Second)) {
		t.Fatal("limit 3 admitted a 4th: the lower limit dropped admissions")
	}
	if !h.At(at(60*time.Second-1)).Route(0).AtCapacity || h.At(at(60*time.Second)).Route(0).AtCapacity {
		t.Error("limit 3 does not read full until the oldest admission leaves")
	}
}

func TestHealthOutOfRange(t *testing.T) {
	h := NewHealth("r0")
	h.Observe(5, time.Second, true, t0)
	h.Observe(-1, time.Second, true, t0)
	if !h.AdmitRoute(7, 1, t0) || h.Route(7) != (selector.RouteHealth{}) || h.Route(-1) != (selector.RouteHealth{}) {
		t.Error("out-of-range index is not a healthy, untracked route")
	}
	if NewHealth().Len() != 0 {
		t.Error("no routes, yet Len is not 0")
	}
}

func TestHealthClockNeverGoesBack(t *testing.T) {
	h := NewHealth("r0")
	h.Observe(0, 0, true, t0)
	h.Advance(at(-time.Hour))
	if !h.Route(0).Down {
		t.Error("Advance to an earlier time moved the clock back")
	}
}

// TestSelectWithHealth runs the selector over this state, concurrently
// with writers, and proves the read path allocates nothing.
func TestSelectWithHealth(t *testing.T) {
	d := decimal.RequireFromString
	cat := &config.Catalog{
		FeeRate: d("0"), InputShare: d("0.3"), USDRates: map[string]decimal.Decimal{"USD": d("1")},
		Tiers: []config.Tier{{Alias: "cpen/middle", Level: "middle", MinTotal: d("0.05"), MaxTotal: d("0.35"), Status: config.TierAvailable}},
		Routes: []config.Route{
			{ID: "a", Tier: "middle", ModelFamily: "f", InputPer1M: d("0.04"), OutputPer1M: d("0.24"), Status: config.RouteLive, RPMLimit: 1},
			{ID: "b", Tier: "middle", ModelFamily: "f", InputPer1M: d("0.06"), OutputPer1M: d("0.26"), Status: config.RouteLive},
		},
	}
	ix, err := selector.NewIndex(cat)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range ix.Routes() {
		ids = append(ids, r.ID)
	}
	h := NewHealth(ids...)
	a, _ := ix.RouteByID("a")
	req := &selector.Request{Alias: "cpen/middle", Strategy: selector.StrategyCheapest}
	var dec selector.Decision

	if err := ix.Select(req, h, &dec); err != nil || dec.Route.ID != "a" {
		t.Fatalf("healthy: %v", err)
	}
	h.AdmitRoute(a.Index, a.RPMLimit, t0) // a is now at its provider limit
	if err := ix.Select(req, h, &dec); err != nil || dec.Route.ID != "b" {
		t.Fatalf("a at capacity: %v", err)
	}
	if err := ix.Select(req, h.At(at(time.Minute)), &dec); err != nil || dec.Route.ID != "a" {
		t.Fatalf("a after its window: %v", err)
	}
	h.Observe(a.Index, time.Second, true, at(time.Minute))
	if err := ix.Select(req, h.At(at(time.Minute+500*time.Millisecond)), &dec); err != nil || dec.Route.ID != "b" {
		t.Fatalf("a ejected: %v", err)
	}
	b, _ := ix.RouteByID("b")
	h.Observe(b.Index, time.Second, true, at(time.Minute+600*time.Millisecond))
	if err := ix.Select(req, h.At(at(time.Minute+700*time.Millisecond)), &dec); !errors.Is(err, selector.ErrTierUnavailable) {
		t.Fatalf("all ejected: %v", err)
	}
	// Through the latest time Health has seen (the last Observe).
	if err := ix.Select(req, h, &dec); !errors.Is(err, selector.ErrTierUnavailable) {
		t.Fatalf("all ejected: %v", err)
	}

	h.Advance(at(time.Hour))
	// A View converted to selector.Health once (the conversion itself
	// allocates, as for any two-word value stored in an interface).
	var view selector.Health = h.At(at(time.Hour))
	allocs := testing.AllocsPerRun(100, func() {
		if err := ix.Select(req, view, &dec); err != nil {
			t.Fatal(err)
		}
		if err := ix.Select(req, h, &dec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Select over state.Health allocates %v", allocs)
	}

	tier, _ := ix.Tier("cpen/middle")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				now := at(time.Hour + time.Duration(i)*time.Millisecond)
				switch g {
				case 0:
					h.Observe(i%2, time.Duration(i)*time.Millisecond, i%3 == 0, now)
				case 1:
					h.AdmitRoute(i%2, 10, now)
				default:
					var d selector.Decision
					_ = ix.Select(req, h.At(now), &d)
					_ = ix.LiveCount(tier, h)
					_, _ = tier.CheapestLive(h.At(now))
				}
			}
		})
	}
	wg.Wait()
}

// Observe reports the failure that ejects a route and the first success
// after it, once each; a failure that only lengthens the ejection, and a
// success of a request sent before it, report nothing.
func TestObserveTransitions(t *testing.T) {
	h := NewHealth("a")
	steps := []struct {
		name       string
		at         time.Duration
		latency    time.Duration
		failed     bool
		retryAfter time.Duration
		want       Transition
	}{
		{name: "first failure", failed: true, want: Ejected},
		{name: "failure while ejected", at: 100 * time.Millisecond, failed: true, want: Unchanged},
		{name: "Retry-After while ejected", at: 200 * time.Millisecond, failed: true, retryAfter: 2 * time.Second, want: Unchanged},
		{name: "success sent before the ejection", at: 300 * time.Millisecond, latency: time.Second, want: Unchanged},
		{name: "failure once back, doubling", at: 3 * time.Second, failed: true, want: Unchanged},
		{name: "first success after", at: 5 * time.Second, latency: time.Millisecond, want: Recovered},
		{name: "second success", at: 6 * time.Second, latency: time.Millisecond, want: Unchanged},
		{name: "a new streak", at: 7 * time.Second, failed: true, want: Ejected},
	}
	for _, s := range steps {
		var got Transition
		if s.retryAfter > 0 {
			got = h.ObserveFailure(0, s.latency, s.retryAfter, at(s.at))
		} else {
			got = h.Observe(0, s.latency, s.failed, at(s.at))
		}
		if got != s.want {
			t.Fatalf("%s: %v, want %v", s.name, got, s.want)
		}
	}
}
