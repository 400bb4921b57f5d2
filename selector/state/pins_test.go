package state

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector"
)

func TestPinsTTL(t *testing.T) {
	pin := selector.Pin{RouteID: "route_mid_01", ModelFamily: "gpt-mini-or-flash-class", VisibleTotal: decimal.RequireFromString("0.28")}
	tests := []struct {
		name   string
		setAt  []time.Duration
		getAt  time.Duration
		alias  string
		wantOK bool
	}{
		{name: "missing", getAt: 0, alias: "cpen/middle"},
		{name: "fresh", setAt: []time.Duration{0}, getAt: time.Hour, alias: "cpen/middle", wantOK: true},
		{name: "last nanosecond", setAt: []time.Duration{0}, getAt: PinTTL - 1, alias: "cpen/middle", wantOK: true},
		{name: "expired at 24h", setAt: []time.Duration{0}, getAt: PinTTL, alias: "cpen/middle"},
		{name: "refreshed by Set", setAt: []time.Duration{0, 20 * time.Hour}, getAt: 30 * time.Hour, alias: "cpen/middle", wantOK: true},
		{name: "refresh expires 24h after the last Set", setAt: []time.Duration{0, 20 * time.Hour}, getAt: 44 * time.Hour, alias: "cpen/middle"},
		{name: "per alias", setAt: []time.Duration{0}, getAt: 0, alias: "cpen/low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPins()
			for _, s := range tt.setAt {
				p.Set("key_demo", "cpen/middle", pin, at(s))
			}
			got, ok := p.Get("key_demo", tt.alias, at(tt.getAt))
			if ok != tt.wantOK {
				t.Fatalf("Get ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && (got.RouteID != pin.RouteID || got.ModelFamily != pin.ModelFamily || !got.VisibleTotal.Equal(pin.VisibleTotal)) {
				t.Errorf("Get = %+v", got)
			}
		})
	}
}

func TestPinsExpiredEntriesAreDropped(t *testing.T) {
	p := NewPins()
	pin := selector.Pin{RouteID: "r"}
	p.Set("k", "a", pin, t0)
	if _, ok := p.Get("k", "a", at(PinTTL)); ok || p.Len() != 0 {
		t.Errorf("expired entry kept after Get: Len = %d", p.Len())
	}
	target := shardOf("live", "a")
	inShard := 0
	for i := range 2000 {
		k := fmt.Sprintf("old-%d", i)
		p.Set(k, "a", pin, t0)
		if shardOf(k, "a") == target {
			inShard++
		}
	}
	before := p.Len()
	for i := range 500 {
		p.Set("live", "a", pin, at(PinTTL+time.Duration(i)))
	}
	if got, want := p.Len(), before-inShard+1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func TestPinsConcurrent(t *testing.T) {
	p := NewPins()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				key := fmt.Sprintf("k%d", i%16)
				p.Set(key, "cpen/middle", selector.Pin{RouteID: fmt.Sprint(g)}, at(time.Duration(i)))
				if _, ok := p.Get(key, "cpen/middle", at(time.Duration(i))); !ok {
					t.Error("pin missing right after Set")
				}
			}
		})
	}
	wg.Wait()
	if p.Len() != 16 {
		t.Errorf("Len = %d, want 16", p.Len())
	}
}
