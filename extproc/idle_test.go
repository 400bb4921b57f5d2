package extproc

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

type fakeGauge struct {
	inFlight atomic.Int64
	admitted atomic.Uint64
}

func (g *fakeGauge) InFlight() int    { return int(g.inFlight.Load()) }
func (g *fakeGauge) Admitted() uint64 { return g.admitted.Load() }
func (g *fakeGauge) serve(n int)      { g.admitted.Add(uint64(n)) }
func (g *fakeGauge) busy(on bool)     { g.inFlight.Store(map[bool]int64{true: 1, false: 0}[on]) }

// Memory goes back once per busy period, only when no stream is in
// flight, and never while idle throughout.
func TestReturnMemoryWhenIdle(t *testing.T) {
	g := &fakeGauge{}
	frees := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		returnMemoryWhenIdle(ctx, g, time.Millisecond, func() { frees <- struct{}{} })
	}()
	// Busy: streams served but one still in flight: no free.
	g.serve(5)
	g.busy(true)
	select {
	case <-frees:
		t.Fatal("freed while a stream was in flight")
	case <-time.After(20 * time.Millisecond):
	}
	// The burst ends: one free.
	g.busy(false)
	<-frees
	// Idle, nothing served since: no further free.
	select {
	case <-frees:
		t.Fatal("freed again with nothing served since")
	case <-time.After(20 * time.Millisecond):
	}
	g.serve(1)
	<-frees
	cancel()
	<-done
}

// A return is worth its collection only past idleReturnAbove of heap
// beyond the live data.
func TestWorthReturning(t *testing.T) {
	for _, c := range []struct {
		held, live uint64
		want       bool
	}{
		{8 << 20, 3 << 20, false},
		{3<<20 + idleReturnAbove, 3 << 20, false},
		{3<<20 + idleReturnAbove + 1, 3 << 20, true},
		{300 << 20, 40 << 20, true},
		{2 << 20, 3 << 20, false},
	} {
		if got := worthReturning(c.held, c.live); got != c.want {
			t.Errorf("held %d live %d: %v, want %v", c.held, c.live, got, c.want)
		}
	}
}
