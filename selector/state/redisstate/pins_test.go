package redisstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/statetest"
)

// The table of selector/state's TestPinsTTL, against Redis and beside the
// in-process store: expiry follows the caller's clock.
func TestPinsTTL(t *testing.T) {
	pin := selector.Pin{RouteID: "route_mid_01", ModelFamily: "gpt-mini-or-flash-class", VisibleTotal: decimal.RequireFromString("0.28")}
	tests := statetest.PinTTLCases()
	r := startRedis(t)
	client := r.Client(t)
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			p := newStore(t, client, WithPrefix("test:"+tt.Name+":")).Pins()
			mem := state.NewPins()
			for _, s := range tt.SetAt {
				p.Set(context.Background(), "key_demo", "cpen/middle", pin, at(s))
				mem.Set(context.Background(), "key_demo", "cpen/middle", pin, at(s))
			}
			got, ok := p.Get(context.Background(), "key_demo", tt.Alias, at(tt.GetAt))
			if ok != tt.WantOK {
				t.Fatalf("Get ok = %v, want %v", ok, tt.WantOK)
			}
			if _, memOK := mem.Get(context.Background(), "key_demo", tt.Alias, at(tt.GetAt)); ok != memOK {
				t.Fatalf("Redis ok = %v, in process %v", ok, memOK)
			}
			if ok && !samePin(got, pin) {
				t.Errorf("Get = %+v", got)
			}
		})
	}
}

func samePin(a, b selector.Pin) bool {
	return a.RouteID == b.RouteID && a.ModelFamily == b.ModelFamily &&
		a.VisibleTotal.Equal(b.VisibleTotal) && a.VisibleTotal.String() == b.VisibleTotal.String()
}

// A pin written by one replica reads back exactly on another: decimals
// keep every digit, and separators in the text fields survive.
func TestPinsRoundTrip(t *testing.T) {
	r := startRedis(t)
	a, b := newStore(t, r.Client(t)).Pins(), newStore(t, r.Client(t)).Pins()
	pins := []selector.Pin{
		{RouteID: "route_mid_01", ModelFamily: "gpt-mini-or-flash-class", VisibleTotal: decimal.RequireFromString("0.28")},
		{RouteID: "r", ModelFamily: "f", VisibleTotal: decimal.RequireFromString("0.000000000001")},
		{RouteID: "r", ModelFamily: "f", VisibleTotal: decimal.RequireFromString("999999.123456789012")},
		{RouteID: "r", ModelFamily: "f", VisibleTotal: decimal.RequireFromString("0.1").Add(decimal.RequireFromString("0.2"))},
		{RouteID: "a|b%7C:c", ModelFamily: "x|y%25%", VisibleTotal: decimal.RequireFromString("2000000")},
		{}, // zero value: the zero decimal reads back as 0
	}
	for i, want := range pins {
		alias := fmt.Sprintf("cpen/%d", i)
		a.Set(context.Background(), "key_demo", alias, want, t0)
		got, ok := b.Get(context.Background(), "key_demo", alias, at(time.Minute))
		if !ok {
			t.Fatalf("pin %d missing on the other replica", i)
		}
		if !samePin(got, want) {
			t.Errorf("pin %d: got %+v (total %s), want %+v (total %s)", i, got, got.VisibleTotal, want, want.VisibleTotal)
		}
	}
}

// Every Set gives the key a Redis TTL of 24 h, so pins nobody refreshes
// leave Redis; a later Set refreshes it.
func TestPinsRedisTTL(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	p := newStore(t, c).Pins()
	pin := selector.Pin{RouteID: "r", ModelFamily: "f", VisibleTotal: decimal.RequireFromString("0.2")}
	key := "cpen:pin:key_demo:cpen/middle"
	p.Set(context.Background(), "key_demo", "cpen/middle", pin, t0)
	if ttl := c.PTTL(ctx, key).Val(); ttl <= state.PinTTL-time.Minute || ttl > state.PinTTL {
		t.Fatalf("PTTL after Set = %v, want about %v", ttl, state.PinTTL)
	}
	if err := c.PExpire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	p.Set(context.Background(), "key_demo", "cpen/middle", pin, at(time.Hour))
	if ttl := c.PTTL(ctx, key).Val(); ttl <= state.PinTTL-time.Minute || ttl > state.PinTTL {
		t.Errorf("PTTL after a second Set = %v, want about %v again", ttl, state.PinTTL)
	}
}

// ':' and '%' in keys and aliases cannot make two pins share a Redis key.
func TestPinsKeyEscaping(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	p := newStore(t, c, WithPrefix("x:")).Pins()
	parts := []struct{ key, alias, redisKey string }{
		{"a:b", "c", "x:pin:a%3Ab:c"},
		{"a", "b:c", "x:pin:a:b%3Ac"},
		{"a%3Ab", "c", "x:pin:a%253Ab:c"},
		{"a", "b%3Ac", "x:pin:a:b%253Ac"},
		{"a|", "|c", "x:pin:a%7C:%7Cc"},
	}
	for i, k := range parts {
		p.Set(context.Background(), k.key, k.alias, selector.Pin{RouteID: fmt.Sprint(i)}, t0)
	}
	for i, k := range parts {
		got, ok := p.Get(context.Background(), k.key, k.alias, t0)
		if !ok || got.RouteID != fmt.Sprint(i) {
			t.Errorf("(%q, %q): got %+v %v, want route %d", k.key, k.alias, got, ok, i)
		}
		if n := c.Exists(context.Background(), k.redisKey).Val(); n != 1 {
			t.Errorf("(%q, %q): Redis key %q missing", k.key, k.alias, k.redisKey)
		}
	}
	if n := c.DBSize(context.Background()).Val(); n != int64(len(parts)) {
		t.Errorf("%d Redis keys for %d pins", n, len(parts))
	}
}

// A value that is not a pin reads as a miss and is reported.
func TestPinsUnreadableValue(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	var gotOp string
	var gotErr error
	p := newStore(t, c, WithErrorHook(func(op string, err error) { gotOp, gotErr = op, err })).Pins()
	for _, v := range []string{"", "garbage", "2|1|r|f|0.1", "1|x|r|f|0.1", "1|9999999999999999999|r|f|0.1", "1|1|r|f|0.1.2", "1|1|r|f"} {
		gotOp, gotErr = "", nil
		c.Set(context.Background(), "cpen:pin:k:a", v, 0)
		if _, ok := p.Get(context.Background(), "k", "a", t0); ok {
			t.Errorf("%q read as a pin", v)
		}
		if gotOp != "pins.get" || !errors.Is(gotErr, errBadPin) {
			t.Errorf("%q: hook got (%q, %v), want (pins.get, %v)", v, gotOp, gotErr, errBadPin)
		}
	}
}

func TestPinsConcurrent(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	replicas := []*Pins{newStore(t, c).Pins(), newStore(t, c).Pins()}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			p := replicas[g%2]
			for i := range 100 {
				key := fmt.Sprintf("k%d", i%16)
				p.Set(context.Background(), key, "cpen/middle", selector.Pin{RouteID: fmt.Sprint(g)}, at(time.Duration(i)))
				if _, ok := p.Get(context.Background(), key, "cpen/middle", at(time.Duration(i))); !ok {
					t.Error("pin missing right after Set")
				}
			}
		})
	}
	wg.Wait()
	if n := c.DBSize(context.Background()).Val(); n != 16 {
		t.Errorf("%d keys, want 16", n)
	}
}

func FuzzPinCodec(f *testing.F) {
	f.Add("route_mid_01", "gpt-mini-or-flash-class", "0.28", int64(1))
	f.Add("a|b", "%7C:", "-1.000000000001", int64(-5))
	f.Add("", "", "0", int64(0))
	f.Fuzz(func(t *testing.T, route, family, total string, expires int64) {
		d, err := decimal.NewFromString(total)
		if err != nil || len(total) > 64 {
			return
		}
		want := selector.Pin{RouteID: route, ModelFamily: family, VisibleTotal: d}
		got, exp, err := decodePin(encodePin(want, expires))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", want, err)
		}
		if exp != expires || got.RouteID != route || got.ModelFamily != family || !got.VisibleTotal.Equal(d) {
			t.Fatalf("round trip: got %+v %d, want %+v %d", got, exp, want, expires)
		}
	})
}
