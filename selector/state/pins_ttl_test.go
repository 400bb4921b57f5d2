package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/statetest"
)

func TestPinsTTL(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pin := selector.Pin{RouteID: "route_mid_01", ModelFamily: "gpt-mini-or-flash-class", VisibleTotal: decimal.RequireFromString("0.28")}
	for _, tc := range statetest.PinTTLCases() {
		t.Run(tc.Name, func(t *testing.T) {
			p := state.NewPins()
			for _, s := range tc.SetAt {
				p.Set(context.Background(), "key_demo", "cpen/middle", pin, t0.Add(s))
			}
			got, ok := p.Get(context.Background(), "key_demo", tc.Alias, t0.Add(tc.GetAt))
			if ok != tc.WantOK {
				t.Fatalf("Get ok = %v, want %v", ok, tc.WantOK)
			}
			if ok && (got.RouteID != pin.RouteID || got.ModelFamily != pin.ModelFamily || !got.VisibleTotal.Equal(pin.VisibleTotal)) {
				t.Errorf("Get = %+v", got)
			}
		})
	}
}
