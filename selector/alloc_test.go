package selector

import "testing"

// TestSelectDoesNotAllocate proves the success path of every strategy and
// every continuity outcome allocates nothing.
func TestSelectDoesNotAllocate(t *testing.T) {
	ix := mustIndex(t, continuityCatalog())
	healthy := Health(healthOf(t, ix, nil))
	pinDown := Health(healthOf(t, ix, map[string]RouteHealth{"p_f1": {Down: true}, "a_f1": {ErrorRate: 0.1, LatencySeconds: 0.5}}))
	pin := pinOf("p_f1", "f1", "0.30")
	tests := []struct {
		name string
		req  Request
		h    Health
		code string
	}{
		{name: "cheapest", req: Request{Strategy: StrategyCheapest, MaxInput: capOf("0.2"), MaxOutput: capOf("0.3")}, h: healthy, code: ReasonCheapestFit},
		{name: "balanced", req: Request{Spread: 12345, MaxTotal: capOf("0.30"), MinTotal: capOf("0.05")}, h: pinDown, code: ReasonBalancedFit},
		{name: "balanced, nil health", req: Request{}, code: ReasonBalancedFit},
		{name: "continuity new pin", req: Request{Strategy: StrategyContinuity}, h: healthy, code: ReasonContinuityNewPin},
		{name: "continuity pinned", req: Request{Strategy: StrategyContinuity, Pin: pin}, h: healthy, code: ReasonContinuityPinned},
		{name: "continuity repinned, over the cap", req: Request{Strategy: StrategyContinuity, Pin: pin, MaxTotal: capOf("0.28")}, h: healthy, code: ReasonContinuityRepinned},
		{name: "continuity repinned, down", req: Request{Strategy: StrategyContinuity, Pin: pin}, h: pinDown, code: ReasonContinuityRepinned},
		{name: "continuity repinned, gone", req: Request{Strategy: StrategyContinuity, Pin: pinOf("gone", "f2", "0.27")}, h: healthy, code: ReasonContinuityRepinned},
		{name: "continuity escalated", req: Request{Strategy: StrategyContinuity, Pin: pin, MaxTotal: capOf("0.28"),
			Mode: ModeTemporaryEscalation, AllowTemporaryHighPrice: true}, h: healthy, code: ReasonContinuityEscalated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Alias = "cpen/middle"
			var d Decision
			allocs := testing.AllocsPerRun(200, func() {
				if err := ix.Select(&req, tt.h, &d); err != nil {
					t.Fatal(err)
				}
			})
			if d.ReasonCode != tt.code {
				t.Fatalf("reason code %s, want %s", d.ReasonCode, tt.code)
			}
			if allocs != 0 {
				t.Errorf("allocs = %v, want 0", allocs)
			}
		})
	}
}
