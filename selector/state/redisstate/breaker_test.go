package redisstate

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cpen/router/selector/state"
)

// transitions records the breaker's reports.
type transitions struct {
	mu  sync.Mutex
	ups []bool
}

func (tr *transitions) hook(up bool, _ error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ups = append(tr.ups, up)
}

func (tr *transitions) get() []bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]bool(nil), tr.ups...)
}

// A hung Redis (SIGSTOP) costs one timeout, then calls fail at once; one
// call per probe interval tries Redis; once it answers again the breaker
// closes by itself, each change reported once.
func TestBreakerHungRedis(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	const timeout, probe = 100 * time.Millisecond, 300 * time.Millisecond
	var tr transitions
	s := New(c, WithTimeout(timeout), WithBreaker(probe, tr.hook), WithFallback(state.NewLimiter(), state.NewPins()))
	ctx := context.Background()
	if a := s.Limiter().Admit(ctx, "k", 100, t0); !a.Allowed || a.Remaining != 99 {
		t.Fatalf("while up: %+v", a)
	}
	r.Pause()
	start := time.Now()
	for i := range 20 {
		// The fallback window of this replica: 20 admissions of 100.
		if a := s.Limiter().Admit(ctx, "k", 100, t0); !a.Allowed || a.Remaining != 99-i {
			t.Fatalf("admission %d while hung, failing open: %+v", i, a)
		}
	}
	if d := time.Since(start); d > 2*timeout+200*time.Millisecond {
		t.Errorf("20 calls to a hung Redis took %v with a %v timeout", d, timeout)
	}
	if s.Up() || !slices.Equal(tr.get(), []bool{false}) {
		t.Fatalf("after the hang: up %v, reports %v", s.Up(), tr.get())
	}
	r.Resume()
	deadline := time.Now().Add(5 * time.Second)
	for !s.Up() && time.Now().Before(deadline) {
		s.Limiter().Peek(ctx, "k", 100, t0)
		time.Sleep(probe / 10) // polling the probe's outcome, not a signal
	}
	if !s.Up() || !slices.Equal(tr.get(), []bool{false, true}) {
		t.Fatalf("after resume: up %v, reports %v", s.Up(), tr.get())
	}
	// Back on the shared window, which kept its first admission; the call
	// that timed out reached Redis before the hang, so a resumed Redis
	// applies it too (a timeout never tells whether a call was applied).
	if a := s.Limiter().Peek(ctx, "k", 100, t0); a.Remaining != 98 && a.Remaining != 99 {
		t.Errorf("shared window after the hang: %+v, want 98 or 99 remaining", a)
	}
}
