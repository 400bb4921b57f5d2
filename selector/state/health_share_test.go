package state

import (
	"testing"
	"time"
)

type ejection struct {
	id      string
	until   time.Time
	backoff time.Duration
}

// OnEject hears every ejection a failure starts or lengthens, through any
// version Rebind derives, and nothing else.
func TestOnEjectAnnouncesEjections(t *testing.T) {
	old := NewHealth("a", "b")
	var got []ejection
	old.OnEject(func(id string, until time.Time, backoff time.Duration) {
		got = append(got, ejection{id, until, backoff})
	})
	h := old.Rebind("b", "a")
	h.Observe(1, 0, true, t0)                                          // a ejected: announced
	h.Observe(1, 0, true, at(500*time.Millisecond))                    // no longer: silent
	old.ObserveFailure(0, 0, 10*time.Second, at(600*time.Millisecond)) // a lengthened through the old version
	h.Observe(0, 0, false, at(700*time.Millisecond))                   // b succeeds: silent
	h.Eject("b", at(time.Minute), 8*time.Second)                       // applied from elsewhere: silent
	h.Observe(1, 0, true, at(20*time.Second))                          // a back and failing: doubled
	want := []ejection{
		{"a", at(EjectBase), EjectBase},
		{"a", at(10*time.Second + 600*time.Millisecond), EjectBase},
		{"a", at(20*time.Second + 2*EjectBase), 2 * EjectBase},
	}
	if len(got) != len(want) {
		t.Fatalf("announced %v, want %v", got, want)
	}
	for i := range want {
		if got[i].id != want[i].id || !got[i].until.Equal(want[i].until) || got[i].backoff != want[i].backoff {
			t.Errorf("announcement %d = %v, want %v", i, got[i], want[i])
		}
	}
	h.OnEject(nil)
	h.Observe(0, 0, true, at(time.Hour))
	if len(got) != len(want) {
		t.Error("a removed hook was still called")
	}
}

// Eject applies another replica's ejection: it never shortens one, ignores
// an ejection already over and an unknown route, and the route's next
// failure here doubles from the back-off it carried.
func TestEjectAppliesSharedEjection(t *testing.T) {
	h := NewHealth("a", "b")
	h.Advance(t0)
	h.Eject("zz", at(time.Minute), time.Second) // not tracked
	h.Eject("a", t0, time.Second)               // already over
	if h.Route(0).Down || h.Route(1).Down {
		t.Fatal("an unknown or ended ejection took a route out")
	}
	h.Eject("a", at(4*time.Second), 4*time.Second)
	if !h.Route(0).Down || h.Route(1).Down {
		t.Fatalf("a shared ejection of a: a %+v, b %+v", h.Route(0), h.Route(1))
	}
	h.Eject("a", at(2*time.Second), 2*time.Second) // shorter: ignored
	if got := h.DownUntil(0); !got.Equal(at(4 * time.Second)) {
		t.Errorf("DownUntil = %v after a shorter ejection, want t0+4s", got.Sub(t0))
	}
	// This replica's first failure of a is still news here (Ejected), and
	// the streak's back-off doubles from the shared 4s.
	if tr := h.Observe(0, 0, true, at(4*time.Second)); tr != Ejected {
		t.Errorf("first failure here after a shared ejection: %v, want Ejected", tr)
	}
	if got := h.DownUntil(0); !got.Equal(at(12 * time.Second)) {
		t.Errorf("DownUntil = t0+%v, want t0+12s (back-off 8s)", got.Sub(t0))
	}
	// A success of a request sent before this replica learnt of an
	// ejection is stale here too.
	h.Eject("b", at(time.Minute), time.Second)
	h.Observe(1, 2*time.Second, false, at(5*time.Second))
	h.Observe(1, 0, true, at(time.Minute))
	if got := h.DownUntil(1); !got.Equal(at(time.Minute + 2*EjectBase)) {
		t.Errorf("b DownUntil = t0+%v, want t0+1m2s: the stale success ended its streak", got.Sub(t0))
	}
	if ids := h.RouteIDs(); len(ids) != 2 || ids[0] != "a" || ids[1] != "b" {
		t.Errorf("RouteIDs = %v", ids)
	}
}
