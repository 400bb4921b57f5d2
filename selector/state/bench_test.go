package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cpen/router/selector"
)

func TestHotPathsDoNotAllocate(t *testing.T) {
	l := NewLimiter()
	p := NewPins()
	h := NewHealth(routeIDs(4)...)
	p.Set(context.Background(), "key_demo", "cpen/middle", selector.Pin{RouteID: "r"}, t0)
	for i := range 10 {
		l.Admit(context.Background(), "key_demo", 1000, at(time.Duration(i)))
		h.AdmitRoute(1, 1000, at(time.Duration(i)))
	}
	allocs := testing.AllocsPerRun(200, func() {
		l.Peek(context.Background(), "key_demo", 1000, t0)
		l.Admit(context.Background(), "key_demo", 1000, at(time.Millisecond)) // denied once full: no growth
		p.Get(context.Background(), "key_demo", "cpen/middle", t0)
		h.Route(1)
		h.Observe(1, time.Millisecond, false, t0)
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
}

func BenchmarkLimiterAdmit(b *testing.B) {
	l := NewLimiter()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("key_%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Admit(context.Background(), keys[i%len(keys)], 600, at(time.Duration(i)*time.Microsecond))
	}
}

// Every other request of each key carries rpm_cap 1: a denial against a
// window that holds up to 600 admissions.
func BenchmarkLimiterAdmitMixedLimits(b *testing.B) {
	l := NewLimiter()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("key_%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		limit := 600
		if i&1024 != 0 {
			limit = 1
		}
		l.Admit(context.Background(), keys[i%len(keys)], limit, at(time.Duration(i)*time.Microsecond))
	}
}

func BenchmarkPinsGet(b *testing.B) {
	p := NewPins()
	p.Set(context.Background(), "key_demo", "cpen/middle", selector.Pin{RouteID: "r"}, t0)
	b.ReportAllocs()
	for b.Loop() {
		p.Get(context.Background(), "key_demo", "cpen/middle", t0)
	}
}

func BenchmarkHealthRoute(b *testing.B) {
	h := NewHealth(routeIDs(16)...)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Route(i & 15)
	}
}
