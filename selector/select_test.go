package selector

import (
	"errors"
	"slices"
	"testing"

	"github.com/cpen/router/config"
)

// selectID runs Select and returns the chosen route id, or fails.
func selectID(t *testing.T, ix *Index, req *Request, h Health) (string, *Decision) {
	t.Helper()
	var d Decision
	if err := ix.Select(req, h, &d); err != nil {
		t.Fatalf("Select: %v", err)
	}
	return d.Route.ID, &d
}

func TestSelectSeedWorkedExample(t *testing.T) {
	ix := mustIndex(t, seedCatalog())
	req := &Request{Alias: "cpen/middle", MaxTotal: capOf("0.30"), MinTotal: capOf("0.05")}
	id, d := selectID(t, ix, req, nil)
	if id != "route_mid_01" {
		t.Fatalf("route = %s, want route_mid_01", id)
	}
	if d.Tier.Alias != "cpen/middle" || d.ReasonCode != ReasonBalancedFit || d.Escalated || d.EscalationAllowed || d.SetsPin {
		t.Errorf("decision = %+v", d)
	}
	if got := FormatPrice(d.Route.VisibleTotal); got != "0.28" {
		t.Errorf("VisibleTotal = %s", got)
	}
	if got := FormatPrice(d.Route.EstimatedCost); got != "0.18" {
		t.Errorf("EstimatedCost = %s", got)
	}
	if got := FormatPrice(d.Route.EstimatedTotal); got != "0.18" {
		t.Errorf("EstimatedTotal = %s", got)
	}
	if got, want := d.Reason(), "Selected the cheapest live middle-tier route inside the declared cap."; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
	// Cheapest explains itself the same way.
	req.Strategy = StrategyCheapest
	_, d = selectID(t, ix, req, nil)
	if d.ReasonCode != ReasonCheapestFit || d.Reason() != "Selected the cheapest live middle-tier route inside the declared cap." {
		t.Errorf("cheapest: %s %q", d.ReasonCode, d.Reason())
	}
}

// TestSelectFitBounds: a route at the cap fits; 1e-12 beyond it does not;
// visible prices with more than 12 fractional digits compare exactly.
func TestSelectFitBounds(t *testing.T) {
	ix := mustIndex(t, catalog(
		route("r", "middle", "f", "0.04", "0.24"),                      // 0.28
		route("r13", "low", "f", "0.1000000000001", "0"),               // 13 digits
		route("r13e", "high", "f", "0.0925925925926851851851852", "0"), // × 1.08 below
	))
	tests := []struct {
		name string
		req  Request
		fits bool
	}{
		{name: "max total equal", req: Request{MaxTotal: capOf("0.28")}, fits: true},
		{name: "max total 1e-12 below price", req: Request{MaxTotal: capOf("0.279999999999")}},
		{name: "min total equal", req: Request{MinTotal: capOf("0.28")}, fits: true},
		{name: "min total 1e-12 above price", req: Request{MinTotal: capOf("0.280000000001")}},
		{name: "max input equal", req: Request{MaxInput: capOf("0.04")}, fits: true},
		{name: "max input 1e-12 below", req: Request{MaxInput: capOf("0.039999999999")}},
		{name: "max output equal", req: Request{MaxOutput: capOf("0.24")}, fits: true},
		{name: "max output 1e-12 below", req: Request{MaxOutput: capOf("0.239999999999")}},
		{name: "max input trailing zeros", req: Request{MaxInput: capOf("0.040000000000000")}, fits: true},
		{name: "all bounds at once", req: Request{MaxInput: capOf("0.04"), MaxOutput: capOf("0.24"), MaxTotal: capOf("0.28"), MinTotal: capOf("0.28")}, fits: true},
		{name: "13 digits under a cap 1e-13 below it", req: Request{Alias: "cpen/low", MaxTotal: capOf("0.1")}},
		{name: "13 digits under the next grid cap", req: Request{Alias: "cpen/low", MaxTotal: capOf("0.100000000001")}, fits: true},
		{name: "13 digits over the floor below it", req: Request{Alias: "cpen/low", MinTotal: capOf("0.1")}, fits: true},
		{name: "13 digits under the next grid floor", req: Request{Alias: "cpen/low", MinTotal: capOf("0.100000000001")}},
		{name: "13 digits input cap", req: Request{Alias: "cpen/low", MaxInput: capOf("0.1")}},
		{name: "13 digits input cap above", req: Request{Alias: "cpen/low", MaxInput: capOf("0.100000000001")}, fits: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if req.Alias == "" {
				req.Alias = "cpen/middle"
			}
			var d Decision
			err := ix.Select(&req, nil, &d)
			switch {
			case tt.fits && err != nil:
				t.Errorf("Select: %v, want a fit", err)
			case !tt.fits && !errors.Is(err, ErrNoRouteUnderCap):
				t.Errorf("Select: %v (route %v), want ErrNoRouteUnderCap", err, d.Route)
			}
		})
	}
}

func TestSelectBandDefaults(t *testing.T) {
	ix := mustIndex(t, catalog(
		route("m_below_band", "middle", "f", "0.01", "0.02"), // 0.03 < 0.05
		route("m_in_band", "middle", "f", "0.1", "0.2"),      // 0.30
		route("m_above_band", "middle", "f", "0.1", "0.3"),   // 0.40 > 0.35
		route("l_above_band", "low", "f", "0.1", "0.2"),      // 0.30 > 0.20
	))
	tests := []struct {
		name    string
		req     Request
		want    string
		wantErr error
	}{
		{name: "band min and max apply by default", req: Request{Alias: "cpen/middle", Strategy: StrategyCheapest}, want: "m_in_band"},
		{name: "client min replaces the band min", req: Request{Alias: "cpen/middle", Strategy: StrategyCheapest, MinTotal: capOf("0")}, want: "m_below_band"},
		{name: "client max replaces the band max", req: Request{Alias: "cpen/middle", Strategy: StrategyCheapest, MinTotal: capOf("0.31"), MaxTotal: capOf("1")}, want: "m_above_band"},
		{name: "band max alone leaves nothing", req: Request{Alias: "cpen/low"}, wantErr: ErrNoRouteUnderCap},
		{name: "client max 0.01 on middle", req: Request{Alias: "cpen/middle", MaxTotal: capOf("0.01")}, wantErr: ErrNoRouteUnderCap},
		{name: "client min above band max", req: Request{Alias: "cpen/middle", MinTotal: capOf("0.36")}, wantErr: ErrNoRouteUnderCap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decision
			err := ix.Select(&tt.req, nil, &d)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.Route.ID != tt.want {
				t.Fatalf("Select = %v, %v; want %s", d.Route, err, tt.want)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	cat := catalog(
		route("l_paused", "low", "f", "0.05", "0.05"),
		route("m_down", "middle", "f", "0.1", "0.1"),
		route("m_paused", "middle", "f", "0.1", "0.1"),
		route("h_full", "high", "f", "0.2", "0.2"),
	)
	cat.Routes[0].Status = config.RoutePaused
	cat.Routes[2].Status = config.RoutePaused
	cat.Tiers[2].Status = config.TierAvailable
	cat.Tiers = append(cat.Tiers,
		config.Tier{Alias: "cpen/planned", Level: "planned", MinTotal: mustDec("0"), MaxTotal: mustDec("1"), Status: config.TierPlanned},
		config.Tier{Alias: "cpen/outage", Level: "outage", MinTotal: mustDec("0"), MaxTotal: mustDec("1"), Status: config.TierOutage},
		config.Tier{Alias: "cpen/empty", Level: "empty", MinTotal: mustDec("0"), MaxTotal: mustDec("1"), Status: config.TierAvailable},
	)
	cat.Routes = append(cat.Routes, route("p_live", "planned", "f", "0.1", "0.1"), route("o_live", "outage", "f", "0.1", "0.1"))
	ix := mustIndex(t, cat)
	h := healthOf(t, ix, map[string]RouteHealth{"m_down": {Down: true}, "h_full": {AtCapacity: true}})
	tests := []struct {
		name    string
		req     Request
		wantErr error
	}{
		{name: "unknown alias", req: Request{Alias: "gpt-4o"}, wantErr: ErrUnknownModel},
		{name: "planned tier", req: Request{Alias: "cpen/planned"}, wantErr: ErrTierUnavailable},
		{name: "outage tier", req: Request{Alias: "cpen/outage"}, wantErr: ErrTierUnavailable},
		{name: "tier without routes", req: Request{Alias: "cpen/empty"}, wantErr: ErrTierUnavailable},
		{name: "all routes paused", req: Request{Alias: "cpen/low"}, wantErr: ErrTierUnavailable},
		{name: "all routes paused or down", req: Request{Alias: "cpen/middle", Strategy: StrategyCheapest}, wantErr: ErrTierUnavailable},
		{name: "all routes down, continuity", req: Request{Alias: "cpen/middle", Strategy: StrategyContinuity}, wantErr: ErrTierUnavailable},
		{name: "unavailable wins over no fit", req: Request{Alias: "cpen/middle", MaxTotal: capOf("0.01")}, wantErr: ErrTierUnavailable},
		{name: "all at capacity is no route under cap", req: Request{Alias: "cpen/high"}, wantErr: ErrNoRouteUnderCap},
		{name: "cap with 13 digits", req: Request{Alias: "cpen/high", MaxTotal: capOf("0.3000000000001")}, wantErr: ErrInvalidRequest},
		{name: "negative cap", req: Request{Alias: "cpen/high", MaxInput: capOf("-1")}, wantErr: ErrInvalidRequest},
		{name: "cap above a million", req: Request{Alias: "cpen/high", MinTotal: capOf("1000001")}, wantErr: ErrInvalidRequest},
		{name: "unknown strategy", req: Request{Alias: "cpen/high", Strategy: 9}, wantErr: ErrInvalidRequest},
		{name: "unknown mode", req: Request{Alias: "cpen/high", Mode: 9}, wantErr: ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decision{ReasonCode: "stale", SetsPin: true}
			err := ix.Select(&tt.req, h, &d)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var se *Error
			if !errors.As(err, &se) || se.Alias != tt.req.Alias {
				t.Errorf("errors.As: %#v", se)
			}
			var wantKnown []string
			if tt.wantErr == ErrUnknownModel {
				wantKnown = []string{"cpen/low", "cpen/middle", "cpen/high", "cpen/planned", "cpen/outage", "cpen/empty"}
			}
			if !slices.Equal(se.Known, wantKnown) {
				t.Errorf("Known = %q, want %q", se.Known, wantKnown)
			}
			if d != (Decision{}) {
				t.Errorf("decision not reset: %+v", d)
			}
		})
	}
	var se *Error
	err := ix.Select(&Request{Alias: "cpen/outage"}, h, new(Decision))
	if !errors.As(err, &se) || err.Error() != "selector: tier unavailable: cpen/outage" {
		t.Errorf("Error() = %q", err)
	}
}

func TestSelectCheapest(t *testing.T) {
	ix := mustIndex(t, catalog(
		paused(route("m_cheap_paused", "middle", "f", "0.01", "0.09")), // 0.10
		route("m_cheap_down", "middle", "f", "0.01", "0.10"),           // 0.11
		route("m_cheap_full", "middle", "f", "0.01", "0.11"),           // 0.12
		route("m_out_high", "middle", "f", "0.12", "0.01"),             // 0.13, input 0.12
		route("m_c", "middle", "f", "0.05", "0.15"),                    // 0.20
		route("m_a", "middle", "f", "0.10", "0.10"),                    // 0.20
		route("m_b", "middle", "f", "0.09", "0.11"),                    // 0.20
		route("m_z", "middle", "f", "0.1", "0.11"),                     // 0.21
	))
	base := map[string]RouteHealth{"m_cheap_down": {Down: true}, "m_cheap_full": {AtCapacity: true}}
	tests := []struct {
		name   string
		health map[string]RouteHealth
		req    Request
		want   string
	}{
		{name: "equal totals, equal health: lower id", req: Request{MaxInput: capOf("0.11")}, want: "m_a"},
		{name: "lower error rate wins", health: map[string]RouteHealth{"m_a": {ErrorRate: 0.2}, "m_b": {ErrorRate: 0.1}, "m_c": {ErrorRate: 0.1, LatencySeconds: 1}}, req: Request{MaxInput: capOf("0.11")}, want: "m_b"},
		{name: "then lower latency", health: map[string]RouteHealth{"m_a": {LatencySeconds: 2}, "m_b": {LatencySeconds: 3}, "m_c": {LatencySeconds: 1}}, req: Request{MaxInput: capOf("0.11")}, want: "m_c"},
		{name: "health never beats price", health: map[string]RouteHealth{"m_a": {ErrorRate: 1}, "m_b": {ErrorRate: 1}, "m_c": {ErrorRate: 1}}, req: Request{MaxInput: capOf("0.11")}, want: "m_a"},
		{name: "unavailable cheaper routes are skipped, then input cap", req: Request{}, want: "m_out_high"},
		{name: "output cap", req: Request{MaxOutput: capOf("0.10"), MaxInput: capOf("0.11")}, want: "m_a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			states := map[string]RouteHealth{}
			for k, v := range base {
				states[k] = v
			}
			for k, v := range tt.health {
				states[k] = v
			}
			h := healthOf(t, ix, states)
			req := tt.req
			req.Alias, req.Strategy, req.MinTotal = "cpen/middle", StrategyCheapest, capOf("0")
			id, d := selectID(t, ix, &req, h)
			if id != tt.want || d.ReasonCode != ReasonCheapestFit {
				t.Errorf("route = %s (%s), want %s", id, d.ReasonCode, tt.want)
			}
		})
	}
}

func TestSelectBalanced(t *testing.T) {
	ix := mustIndex(t, catalog(
		route("m_1", "middle", "f", "0.08", "0.2"),     // 0.28
		route("m_2", "middle", "f", "0.08", "0.2056"),  // 0.2856 = 0.28 × 1.02
		route("m_3", "middle", "f", "0.08", "0.20561"), // 0.28561, just over 2%
		route("m_4", "middle", "f", "0.1", "0.2"),      // 0.30
	))
	tests := []struct {
		name       string
		health     map[string]RouteHealth
		spread     uint64
		want       string
		wantReason string
	}{
		{name: "spread 0 picks the first near-equal", spread: 0, want: "m_1",
			wantReason: "Selected the cheapest live middle-tier route inside the declared cap."},
		{name: "spread 1 picks the route exactly 2% above", spread: 1, want: "m_2",
			wantReason: "Selected m_2, one of 2 live middle-tier routes inside the declared cap whose price weighed with error rate and latency is within 2% of the best."},
		{name: "spread wraps", spread: 2, want: "m_1"},
		{name: "spread wraps again", spread: 3, want: "m_2"},
		{name: "error rate moves the best", spread: 0,
			health:     map[string]RouteHealth{"m_1": {ErrorRate: 0.5}, "m_2": {ErrorRate: 0.5}, "m_3": {ErrorRate: 0.5}},
			want:       "m_4",
			wantReason: "Selected m_4, the live middle-tier route inside the declared cap with the best price weighed with error rate and latency."},
		{name: "latency moves the best", spread: 0,
			health: map[string]RouteHealth{"m_1": {LatencySeconds: 1}, "m_2": {LatencySeconds: 1}, "m_3": {LatencySeconds: 1}},
			want:   "m_4"},
		{name: "slightly slower cheapest stays near-equal", spread: 1,
			health: map[string]RouteHealth{"m_1": {LatencySeconds: 0.1}},
			want:   "m_2"}, // scores 0.28028, 0.2856: both within 2% of 0.28028
		{name: "down and at capacity routes are skipped", spread: 0,
			health:     map[string]RouteHealth{"m_1": {Down: true}, "m_2": {AtCapacity: true}},
			want:       "m_3",
			wantReason: "Selected the cheapest live middle-tier route inside the declared cap."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Alias: "cpen/middle", Spread: tt.spread}
			id, d := selectID(t, ix, &req, healthOf(t, ix, tt.health))
			if id != tt.want || d.ReasonCode != ReasonBalancedFit {
				t.Fatalf("route = %s (%s), want %s", id, d.ReasonCode, tt.want)
			}
			if tt.wantReason != "" && d.Reason() != tt.wantReason {
				t.Errorf("Reason = %q, want %q", d.Reason(), tt.wantReason)
			}
		})
	}
}

// TestSelectBalancedManyNearEqual covers more near-equal routes than the
// stack buffer holds.
func TestSelectBalancedManyNearEqual(t *testing.T) {
	var routes []config.Route
	for i := range 100 {
		routes = append(routes, route(string(rune('a'+i/26))+string(rune('a'+i%26)), "middle", "f", "0.1", "0.1"))
	}
	routes = append(routes, route("zz_dearer", "middle", "f", "0.1", "0.2"))
	ix := mustIndex(t, catalog(routes...))
	for _, tt := range []struct {
		spread uint64
		want   string
	}{{0, "aa"}, {63, "cl"}, {64, "cm"}, {99, "dv"}, {100, "aa"}, {164, "cm"}} {
		req := Request{Alias: "cpen/middle", Spread: tt.spread}
		id, d := selectID(t, ix, &req, nil)
		if id != tt.want || d.near != 100 {
			t.Errorf("spread %d: route %s (near %d), want %s", tt.spread, id, d.near, tt.want)
		}
	}
}

func TestStrategyAndModeNames(t *testing.T) {
	for _, s := range []Strategy{StrategyBalanced, StrategyCheapest, StrategyContinuity} {
		if got, ok := ParseStrategy(s.String()); !ok || got != s {
			t.Errorf("ParseStrategy(%q) = %v, %v", s, got, ok)
		}
	}
	for _, m := range []ContinuityMode{ModeStayWithinCap, ModeTemporaryEscalation} {
		if got, ok := ParseContinuityMode(m.String()); !ok || got != m {
			t.Errorf("ParseContinuityMode(%q) = %v, %v", m, got, ok)
		}
	}
	if Strategy(0).String() != "balanced" || ContinuityMode(0).String() != "stay_within_cap" {
		t.Error("zero values are not the defaults")
	}
	if _, ok := ParseStrategy("fastest"); ok {
		t.Error("unknown strategy parsed")
	}
	if _, ok := ParseContinuityMode("always"); ok {
		t.Error("unknown mode parsed")
	}
}
