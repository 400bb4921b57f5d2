package statetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cpen/router/selector/state"
)

// Admitter is the part of a limiter the concurrent check drives.
type Admitter interface {
	Admit(ctx context.Context, key string, limit int, now time.Time) state.Admission
}

// ConcurrentMixedLimits runs goroutines × perG admissions of key "k" at
// once, alternating limit 1 (a request's rpm_cap) and 20 (the key's
// limit), goroutine g on limiters[g % len(limiters)], at start plus a
// microsecond per call. Exactly 20 must be admitted in all, and at most
// one under the cap (only into an empty window). It returns the admissions
// by limit.
func ConcurrentMixedLimits(t *testing.T, limiters []Admitter, goroutines, perG int, start time.Time) map[int]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[int]int{}
	for g := range goroutines {
		wg.Go(func() {
			l := limiters[g%len(limiters)]
			for i := range perG {
				limit := 1 + 19*(i%2)
				if l.Admit(context.Background(), "k", limit, start.Add(time.Duration(g*perG+i)*time.Microsecond)).Allowed {
					mu.Lock()
					allowed[limit]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if n := allowed[1] + allowed[20]; n != 20 || allowed[1] > 1 {
		t.Errorf("admitted %d under rpm_cap 1 and %d under the key limit, want 20 in all, at most 1 capped", allowed[1], allowed[20])
	}
	return allowed
}
