package selector

import (
	"errors"
	"testing"

	"github.com/cpen/router/config"
)

// continuityCatalog: a middle tier around a pinned route p_f1 at 0.30.
func continuityCatalog() *config.Catalog {
	return catalog(
		route("p_f1", "middle", "f1", "0.10", "0.20"),         // 0.30
		route("a_f1", "middle", "f1", "0.05", "0.15"),         // 0.20
		route("b_f1", "middle", "f1", "0.04", "0.20"),         // 0.24
		route("c_f2", "middle", "f2", "0.06", "0.20"),         // 0.26
		route("e_f2", "middle", "f2", "0.09", "0.20"),         // 0.29
		route("d_f1", "middle", "f1", "0.12", "0.20"),         // 0.32
		route("l_f1", "low", "f1", "0.05", "0.05"),            // 0.10
		paused(route("q_f1", "middle", "f1", "0.11", "0.20")), // 0.31
	)
}

func pinOf(id, family, total string) *Pin {
	return &Pin{RouteID: id, ModelFamily: family, VisibleTotal: mustDec(total)}
}

func TestContinuity(t *testing.T) {
	ix := mustIndex(t, continuityCatalog())
	pin := pinOf("p_f1", "f1", "0.30")
	tests := []struct {
		name        string
		req         Request
		health      map[string]RouteHealth
		want        string
		wantCode    string
		wantEsc     bool
		wantAllowed bool
		wantReason  string
	}{
		{
			name: "no pin: balanced, then pinned", req: Request{},
			want: "a_f1", wantCode: ReasonContinuityNewPin,
			wantReason: "No continuity pin yet for this key and model; selected the cheapest live middle-tier route inside the declared cap, and pinned it.",
		},
		{
			name: "empty pin is no pin", req: Request{Pin: &Pin{}},
			want: "a_f1", wantCode: ReasonContinuityNewPin,
		},
		{
			name: "pin of another tier is ignored", req: Request{Pin: pinOf("l_f1", "f1", "0.10")},
			want: "a_f1", wantCode: ReasonContinuityNewPin,
			wantReason: "The pinned route l_f1 belongs to another tier; selected the cheapest live middle-tier route inside the declared cap, and pinned it.",
		},
		{
			name: "pin fits: kept", req: Request{Pin: pin},
			want: "p_f1", wantCode: ReasonContinuityPinned,
			wantReason: "Kept the pinned route p_f1, which still fits the declared cap.",
		},
		{
			name: "pin fits with escalation allowed: kept, not escalated",
			req:  Request{Pin: pin, Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			want: "p_f1", wantCode: ReasonContinuityPinned, wantAllowed: true,
		},
		{
			name: "over the cap: same family, closest total", req: Request{Pin: pin, MaxTotal: capOf("0.28")},
			want: "b_f1", wantCode: ReasonContinuityRepinned,
			wantReason: "Route p_f1 no longer fits the declared cap (visible total 0.3 above 0.28); moved to b_f1, the closest fitting route.",
		},
		{
			name: "over the input cap", req: Request{Pin: pin, MaxInput: capOf("0.09")},
			want: "b_f1", wantCode: ReasonContinuityRepinned,
			wantReason: "Route p_f1 no longer fits the declared cap (visible input 0.1 above 0.09); moved to b_f1, the closest fitting route.",
		},
		{
			name: "over the output cap", req: Request{Pin: pin, MaxOutput: capOf("0.19")},
			want: "a_f1", wantCode: ReasonContinuityRepinned,
			wantReason: "Route p_f1 no longer fits the declared cap (visible output 0.2 above 0.19); moved to a_f1, the closest fitting route.",
		},
		{
			name: "under the floor", req: Request{Pin: pin, MinTotal: capOf("0.31")},
			want: "d_f1", wantCode: ReasonContinuityRepinned,
			wantReason: "Route p_f1 no longer fits the declared cap (visible total 0.3 below the floor 0.31); moved to d_f1, the closest fitting route.",
		},
		{
			name: "pin down: closest of the family above", req: Request{Pin: pin},
			health: map[string]RouteHealth{"p_f1": {Down: true}},
			want:   "d_f1", wantCode: ReasonContinuityRepinned,
			wantReason: "Route p_f1 is down; moved to d_f1, the closest fitting route.",
		},
		{
			name: "pin at its provider's limit", req: Request{Pin: pin},
			health: map[string]RouteHealth{"p_f1": {AtCapacity: true}},
			want:   "d_f1", wantCode: ReasonContinuityRepinned,
			wantReason: "Route p_f1 is at its provider's rate limit; moved to d_f1, the closest fitting route.",
		},
		{
			name: "pin paused: equal distance goes to the lower total", req: Request{Pin: pinOf("q_f1", "f1", "0.31")},
			want: "p_f1", wantCode: ReasonContinuityRepinned,
			wantReason: "Route q_f1 is paused; moved to p_f1, the closest fitting route.",
		},
		{
			name: "pin gone from the catalog", req: Request{Pin: pinOf("gone", "f2", "0.27")},
			want: "c_f2", wantCode: ReasonContinuityRepinned,
			wantReason: "Route gone is no longer in the catalog; moved to c_f2, the closest fitting route.",
		},
		{
			name: "pin gone, family gone too: closest of any family", req: Request{Pin: pinOf("gone", "f9", "0.315")},
			want: "d_f1", wantCode: ReasonContinuityRepinned,
		},
		{
			name: "escalated above the cap",
			req:  Request{Pin: pin, MaxTotal: capOf("0.28"), Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			want: "p_f1", wantCode: ReasonContinuityEscalated, wantEsc: true, wantAllowed: true,
			wantReason: "Route p_f1 no longer fits the declared cap (visible total 0.3 above 0.28); kept it for this request at the higher price, as allow_temporary_high_price permits, and the pin stays.",
		},
		{
			name: "escalated when nothing else fits",
			req:  Request{Pin: pin, MaxTotal: capOf("0.01"), Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			want: "p_f1", wantCode: ReasonContinuityEscalated, wantEsc: true, wantAllowed: true,
		},
		{
			name: "not escalated without the flag",
			req:  Request{Pin: pin, MaxTotal: capOf("0.28"), Mode: ModeTemporaryEscalation},
			want: "b_f1", wantCode: ReasonContinuityRepinned,
		},
		{
			name: "not escalated in stay_within_cap",
			req:  Request{Pin: pin, MaxTotal: capOf("0.28"), AllowTemporaryHighPrice: true},
			want: "b_f1", wantCode: ReasonContinuityRepinned,
		},
		{
			name:   "not escalated when the pin is down",
			req:    Request{Pin: pin, MaxTotal: capOf("0.28"), Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			health: map[string]RouteHealth{"p_f1": {Down: true}},
			want:   "b_f1", wantCode: ReasonContinuityRepinned, wantAllowed: true,
			wantReason: "Route p_f1 is down; moved to b_f1, the closest fitting route.",
		},
		{
			name:   "not escalated when the pin is at its provider's limit",
			req:    Request{Pin: pin, MaxTotal: capOf("0.28"), Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			health: map[string]RouteHealth{"p_f1": {AtCapacity: true}},
			want:   "b_f1", wantCode: ReasonContinuityRepinned, wantAllowed: true,
		},
		{
			name: "not escalated under the quality floor",
			req:  Request{Pin: pin, MinTotal: capOf("0.31"), Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			want: "d_f1", wantCode: ReasonContinuityRepinned, wantAllowed: true,
		},
		{
			name: "not escalated when the pin is gone",
			req:  Request{Pin: pinOf("gone", "f1", "0.30"), MaxTotal: capOf("0.28"), Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			want: "b_f1", wantCode: ReasonContinuityRepinned, wantAllowed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Alias, req.Strategy = "cpen/middle", StrategyContinuity
			id, d := selectID(t, ix, &req, healthOf(t, ix, tt.health))
			if id != tt.want || d.ReasonCode != tt.wantCode {
				t.Fatalf("route = %s (%s), want %s (%s)", id, d.ReasonCode, tt.want, tt.wantCode)
			}
			if !d.SetsPin || d.Escalated != tt.wantEsc || d.EscalationAllowed != tt.wantAllowed {
				t.Errorf("SetsPin %v Escalated %v EscalationAllowed %v; want true %v %v",
					d.SetsPin, d.Escalated, d.EscalationAllowed, tt.wantEsc, tt.wantAllowed)
			}
			if tt.wantReason != "" && d.Reason() != tt.wantReason {
				t.Errorf("Reason =\n%q\nwant\n%q", d.Reason(), tt.wantReason)
			}
		})
	}
}

func TestContinuityNothingFits(t *testing.T) {
	ix := mustIndex(t, continuityCatalog())
	tests := []struct {
		name   string
		req    Request
		health map[string]RouteHealth
	}{
		{name: "stay within cap", req: Request{Pin: pinOf("p_f1", "f1", "0.30"), MaxTotal: capOf("0.01")}},
		{name: "escalation not allowed", req: Request{Pin: pinOf("p_f1", "f1", "0.30"), MaxTotal: capOf("0.01"), Mode: ModeTemporaryEscalation}},
		{name: "allowed but the pin is down", req: Request{Pin: pinOf("p_f1", "f1", "0.30"), MaxTotal: capOf("0.01"), Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true},
			health: map[string]RouteHealth{"p_f1": {Down: true}}},
		{name: "no pin", req: Request{MaxTotal: capOf("0.01")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Alias, req.Strategy = "cpen/middle", StrategyContinuity
			var d Decision
			if err := ix.Select(&req, healthOf(t, ix, tt.health), &d); !errors.Is(err, ErrNoRouteUnderCap) {
				t.Fatalf("err = %v (route %v), want ErrNoRouteUnderCap", err, d.Route)
			}
		})
	}
}

// TestPinReadOnlyByContinuity: other strategies ignore the pin and the
// escalation flags.
func TestPinReadOnlyByContinuity(t *testing.T) {
	ix := mustIndex(t, continuityCatalog())
	for _, s := range []Strategy{StrategyBalanced, StrategyCheapest} {
		req := Request{Alias: "cpen/middle", Strategy: s, Pin: pinOf("p_f1", "f1", "0.30"),
			Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true}
		id, d := selectID(t, ix, &req, nil)
		if id != "a_f1" || d.SetsPin || d.EscalationAllowed || d.Escalated {
			t.Errorf("%s: %s SetsPin %v EscalationAllowed %v", s, id, d.SetsPin, d.EscalationAllowed)
		}
	}
}

// TestContinuityRepinTieBreaks walks every level of the repin order:
// family, distance to the pin's total, lower total, lower id.
func TestContinuityRepinTieBreaks(t *testing.T) {
	downPin := route("pin", "middle", "f1", "0.1", "0.2") // 0.30, down in every case
	tests := []struct {
		name   string
		routes []config.Route
		pin    *Pin
		health map[string]RouteHealth
		want   string
	}{
		{name: "same family beats a closer total", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("x_f2", "middle", "f2", "0.1", "0.2"), route("y_f1", "middle", "f1", "0.1", "0.1")}, want: "y_f1"},
		{name: "closer total below", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("lo", "middle", "f1", "0.1", "0.17"), route("hi", "middle", "f1", "0.1", "0.24")}, want: "lo"},
		{name: "closer total above", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("lo", "middle", "f1", "0.1", "0.15"), route("hi", "middle", "f1", "0.1", "0.24")}, want: "hi"},
		{name: "equal distance: lower total", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("lo", "middle", "f1", "0.1", "0.16"), route("a_hi", "middle", "f1", "0.1", "0.24")}, want: "lo"},
		{name: "equal total below: lower id", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("x2", "middle", "f1", "0.1", "0.16"), route("x1", "middle", "f1", "0.1", "0.16"), route("x0", "middle", "f1", "0.1", "0.15")}, want: "x1"},
		{name: "equal total above: lower id", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("y2", "middle", "f1", "0.1", "0.22"), route("y1", "middle", "f1", "0.1", "0.22"), route("y0", "middle", "f1", "0.1", "0.1")}, want: "y1"},
		{name: "equal total: lower id that is available", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("x2", "middle", "f1", "0.1", "0.16"), route("x1", "middle", "f1", "0.1", "0.16")},
			health: map[string]RouteHealth{"x1": {Down: true}}, want: "x2"},
		{name: "same total as the pin", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("z", "middle", "f1", "0.15", "0.15"), route("y", "middle", "f1", "0.1", "0.19")}, want: "z"},
		{name: "no family fits: closest of any family", pin: pinOf("pin", "f1", "0.30"),
			routes: []config.Route{route("f1_far", "middle", "f1", "0.3", "0.3"), route("f2", "middle", "f2", "0.1", "0.15"), route("f3", "middle", "f3", "0.1", "0.23")}, want: "f3"},
		{name: "pin total from when it was served, not today's price", pin: pinOf("pin", "f1", "0.20"),
			routes: []config.Route{route("near_old", "middle", "f1", "0.1", "0.11"), route("near_new", "middle", "f1", "0.1", "0.19")}, want: "near_old"},
		{name: "empty pin family falls back to the route's", pin: pinOf("pin", "", "0.30"),
			routes: []config.Route{route("x_f2", "middle", "f2", "0.1", "0.2"), route("y_f1", "middle", "f1", "0.1", "0.1")}, want: "y_f1"},
		{name: "off-grid totals: tie goes to the lower", pin: pinOf("pin", "f1", "0.2600000000000005"),
			routes: []config.Route{route("grid", "middle", "f1", "0.26", "0"), route("off", "middle", "f1", "0.260000000000001", "0")}, want: "grid"},
		{name: "off-grid totals: just closer above", pin: pinOf("pin", "f1", "0.2600000000000006"),
			routes: []config.Route{route("grid", "middle", "f1", "0.26", "0"), route("off", "middle", "f1", "0.260000000000001", "0")}, want: "off"},
		{name: "off-grid route between pin grid points", pin: pinOf("pin", "f1", "0.26"),
			routes: []config.Route{route("under", "middle", "f1", "0.2599999999999999", "0"), route("over", "middle", "f1", "0.2600000000000002", "0")}, want: "under"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := mustIndex(t, catalog(append([]config.Route{downPin}, tt.routes...)...))
			states := map[string]RouteHealth{"pin": {Down: true}}
			for k, v := range tt.health {
				states[k] = v
			}
			req := Request{Alias: "cpen/middle", Strategy: StrategyContinuity, Pin: tt.pin, MinTotal: capOf("0")}
			id, d := selectID(t, ix, &req, healthOf(t, ix, states))
			if id != tt.want || d.ReasonCode != ReasonContinuityRepinned {
				t.Errorf("route = %s (%s), want %s", id, d.ReasonCode, tt.want)
			}
		})
	}
}
