package state

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/cpen/router/selector"
)

// routeIDs names n routes r0..r(n-1).
func routeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%d", i)
	}
	return ids
}

// TestRebindCarriesStateByID reorders the routes, drops one and adds one:
// every kept route reads at its new index exactly what it read at its old
// one, and keeps its hidden state too (the back-off of its failure streak,
// the admissions in its provider RPM window).
func TestRebindCarriesStateByID(t *testing.T) {
	old := NewHealth("a", "b", "c")
	old.Observe(0, time.Second, false, at(0)) // a: latency 1s
	old.Observe(0, 0, true, at(1))            // a: error rate 0.2, ejected until 1+EjectBase
	// b: ejected at 2s for EjectBase, then failed again once back: out
	// until 3s + 2·EjectBase.
	old.Observe(1, 0, true, at(2*time.Second))
	old.Observe(1, 0, true, at(2*time.Second+EjectBase))
	old.AdmitRoute(2, 2, at(20)) // c: window full at limit 2
	old.AdmitRoute(2, 2, at(21))

	h := old.Rebind("c", "d", "b")
	if h.Len() != 3 {
		t.Fatalf("Len = %d, want 3", h.Len())
	}
	if got := h.Route(0); got.Down || !got.AtCapacity || got.ErrorRate != 0 || got.LatencySeconds != 0 {
		t.Errorf("c at its new index 0 = %+v, want at capacity", got)
	}
	if got := h.Route(1); got != (selector.RouteHealth{}) {
		t.Errorf("new route d = %+v, want healthy and unmeasured", got)
	}
	bBack := 2*time.Second + 3*EjectBase
	if got := h.At(at(bBack - 1)).Route(2); !got.Down || got.AtCapacity || math.Abs(got.ErrorRate-(1-math.Pow(1-ewmaWeight, 2))) > 1e-12 {
		t.Errorf("b at its new index 2 = %+v, want ejected", got)
	}
	if got := h.At(at(bBack)).Route(2).Down; got {
		t.Error("b's ejection was lengthened by the rebind")
	}
	// b's next failure once back doubles its back-off again: 4·EjectBase.
	h.Observe(2, 0, true, at(bBack))
	if got, want := h.DownUntil(2), at(bBack+4*EjectBase); !got.Equal(want) {
		t.Errorf("b's failure after the rebind ejects it until %v, want %v (its back-off was reset)", got, want)
	}

	// c's window still holds its two admissions: denied until the first leaves.
	if h.AdmitRoute(0, 2, at(22)) {
		t.Error("c admitted a third request: its provider RPM window was emptied")
	}
	if !h.AdmitRoute(0, 2, at(20+Window)) {
		t.Error("c denied once its oldest admission left the window")
	}

	// a was dropped: bringing it back later starts it afresh, though the
	// old version still holds its state.
	back := h.Rebind("a")
	if got := back.Route(0); got != (selector.RouteHealth{}) {
		t.Errorf("a re-added after its removal = %+v, want healthy and unmeasured", got)
	}
	if got := old.Route(0); got.LatencySeconds != 1 || math.Abs(got.ErrorRate-0.2) > 1e-12 {
		t.Errorf("the old version's a = %+v, want latency 1s, error rate 0.2", got)
	}
}

// TestRebindSharesWithOlderVersion: requests still served by the version
// in force before a reload report to it; what they report, and the time
// they carry, reach the new version.
func TestRebindSharesWithOlderVersion(t *testing.T) {
	old := NewHealth("a", "b")
	h := old.Rebind("b", "a")
	old.Observe(0, 0, true, t0)
	if !h.Route(1).Down || h.Route(0).Down {
		t.Fatalf("an ejection through the old version: new a %+v, new b %+v", h.Route(1), h.Route(0))
	}
	old.Advance(at(EjectBase + time.Hour))
	if h.Route(1).Down {
		t.Error("time given to the old version did not reach the new one")
	}
	old.Observe(1, 2*time.Second, false, at(EjectBase+time.Hour))
	if got := h.Route(0).LatencySeconds; got != 2 {
		t.Errorf("new b latency = %v, want 2 (observed through the old version)", got)
	}
}

// TestRebindDuplicateID: an id listed twice shares its state once; the
// second position starts fresh rather than aliasing the first.
func TestRebindDuplicateID(t *testing.T) {
	old := NewHealth("a")
	old.Observe(0, 0, true, t0)
	h := old.Rebind("a", "a")
	if !h.Route(0).Down || h.Route(1).Down {
		t.Errorf("Route(0).Down %v, Route(1).Down %v, want true, false", h.Route(0).Down, h.Route(1).Down)
	}
	h.Observe(1, time.Second, false, at(time.Nanosecond))
	if h.Route(0).LatencySeconds != 0 {
		t.Error("the duplicate's outcome reached the first a")
	}
}

func TestRebindHotPathsDoNotAllocate(t *testing.T) {
	h := NewHealth(routeIDs(4)...).Rebind("r3", "r9", "r1")
	for i := range 10 {
		h.AdmitRoute(2, 1000, at(time.Duration(i)))
	}
	allocs := testing.AllocsPerRun(200, func() {
		h.Route(0)
		h.Route(1)
		h.Observe(2, time.Millisecond, false, t0)
		h.AdmitRoute(0, 1000, at(time.Millisecond))
		h.Advance(at(time.Second))
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
}

// TestRebindWhileServing rebinds while writers and readers use the old
// version and the versions before it (for the race detector).
func TestRebindWhileServing(t *testing.T) {
	ids := routeIDs(8)
	versions := make(chan *Health, 16)
	first := NewHealth(ids...)
	versions <- first
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(versions)
		h := first
		for i := range 15 {
			// Rotate and drop one id each time.
			next := append(append([]string{}, ids[i%8+1:]...), ids[:i%8]...)
			h = h.Rebind(next...)
			versions <- h
		}
	})
	for h := range versions {
		wg.Go(func() {
			for i := range 200 {
				now := at(time.Duration(i) * time.Millisecond)
				h.Observe(i%h.Len(), time.Millisecond, i%3 == 0, now)
				h.AdmitRoute(i%h.Len(), 50, now)
				_ = h.Route(i % h.Len())
			}
		})
	}
	wg.Wait()
}
