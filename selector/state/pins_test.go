package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cpen/router/selector"
)

func TestPinsExpiredEntriesAreDropped(t *testing.T) {
	p := NewPins()
	pin := selector.Pin{RouteID: "r"}
	p.Set(context.Background(), "k", "a", pin, t0)
	if _, ok := p.Get(context.Background(), "k", "a", at(PinTTL)); ok || p.Len() != 0 {
		t.Errorf("expired entry kept after Get: Len = %d", p.Len())
	}
	target := shardOf("live", "a")
	inShard := 0
	for i := range 2000 {
		k := fmt.Sprintf("old-%d", i)
		p.Set(context.Background(), k, "a", pin, t0)
		if shardOf(k, "a") == target {
			inShard++
		}
	}
	before := p.Len()
	for i := range 500 {
		p.Set(context.Background(), "live", "a", pin, at(PinTTL+time.Duration(i)))
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
				p.Set(context.Background(), key, "cpen/middle", selector.Pin{RouteID: fmt.Sprint(g)}, at(time.Duration(i)))
				if _, ok := p.Get(context.Background(), key, "cpen/middle", at(time.Duration(i))); !ok {
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
