package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/statetest"
)

func TestLimiterWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range statetest.LimiterWindowCases() {
		t.Run(tc.Name, func(t *testing.T) {
			l := state.NewLimiter()
			for i, s := range tc.Steps {
				var got state.Admission
				if s.Peek {
					got = l.Peek(context.Background(), "key", s.Limit, t0.Add(s.At))
				} else {
					got = l.Admit(context.Background(), "key", s.Limit, t0.Add(s.At))
				}
				if got != s.Want {
					t.Fatalf("step %d (t=%v peek=%v): got %+v, want %+v", i, s.At, s.Peek, got, s.Want)
				}
			}
		})
	}
}

// Concurrent requests of one key limited to 20, half of them with rpm_cap
// 1: exactly 20 in the window, at most one of them under the cap (only
// into an empty window).
func TestLimiterConcurrentMixedLimits(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := state.NewLimiter()
	statetest.ConcurrentMixedLimits(t, []statetest.Admitter{l}, 16, 50, t0)
	if got := l.Peek(context.Background(), "k", 20, t0.Add(time.Second)); got.Allowed || got.Remaining != 0 {
		t.Errorf("window after the burst: %+v, want full", got)
	}
}
