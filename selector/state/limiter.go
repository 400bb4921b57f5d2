package state

import (
	"context"
	"sync"
	"time"
)

// Admission is the answer of a rate limiter for one key. With n the key's
// admissions in the window (this one included when it was taken) and L
// the limit of the check:
type Admission struct {
	// Allowed is whether fewer than L admissions were in the window.
	Allowed bool
	Limit   int // L, the limit applied
	// Remaining is L - n, never below 0 (so always 0 on a denial): how
	// many more admissions a check with the same limit allows now.
	Remaining int
	// Reset is how long until the oldest admission in the window leaves it;
	// 0 when the window is empty.
	Reset time.Duration
	// RetryAfter, when denied, is how long until a check with the same
	// limit would pass if nothing else is admitted meanwhile: until the
	// (n - L + 1)-th oldest admission leaves, leaving L - 1. At least one
	// second.
	RetryAfter time.Duration
	// Unavailable is set by a shared limiter that could not reach its
	// state and fails closed: nothing was decided, and Allowed is false.
	Unavailable bool
}

// Limiter counts admissions per key in a sliding 60-second window. Each
// key keeps its newest ExactTail admission times to the nanosecond and
// counts older ones per whole second, so its memory does not grow with
// its limit; those leave the window up to a second late (see window for
// the rounding). Keys live in independently locked shards; idle keys are
// dropped.
//
// The limit belongs to the check, not to the key: requests of one key may
// carry different ceilings, and each is checked against every admission
// of the key in the window. A low limit denies while the window is busy
// but never shortens it, so mixing limits cannot admit more than the
// highest of them allows.
type Limiter struct {
	shards [numShards]limiterShard
	tail   int // exact times kept per key: ExactTail, fewer in tests
}

type limiterShard struct {
	mu sync.Mutex
	m  map[string]*window
}

// NewLimiter returns an empty limiter.
func NewLimiter() *Limiter { return newLimiter(ExactTail) }

func newLimiter(tail int) *Limiter {
	l := &Limiter{tail: tail}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*window)
	}
	return l
}

// Admit takes a slot for key when fewer than limit admissions are in the
// window. A limit of 0 or less means unlimited: always allowed, nothing
// recorded. Limits above 1,000,000 count as 1,000,000. The context is
// unused: the window is in memory.
func (l *Limiter) Admit(_ context.Context, key string, limit int, now time.Time) Admission {
	return l.check(key, limit, now, true)
}

// Peek answers like Admit would about the window as it stands, without
// taking a slot.
func (l *Limiter) Peek(_ context.Context, key string, limit int, now time.Time) Admission {
	return l.check(key, limit, now, false)
}

func (l *Limiter) check(key string, limit int, now time.Time, take bool) Admission {
	if limit <= 0 {
		return Admission{Allowed: true}
	}
	limit = clampLimit(limit)
	t := now.UnixNano()
	s := &l.shards[shardOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.m[key]
	n := 0
	if w != nil {
		w.evict(t)
		n = w.n
	}
	if take {
		s.sweep(t, key)
	}
	if n >= limit {
		return Admission{Limit: limit, Reset: w.untilOldestLeaves(t),
			RetryAfter: max(time.Duration(w.freeAt(limit)-t), time.Second)}
	}
	if !take {
		if w != nil && n == 0 {
			delete(s.m, key)
		}
		a := Admission{Allowed: true, Limit: limit, Remaining: limit - n}
		if w != nil {
			a.Reset = w.untilOldestLeaves(t)
		}
		return a
	}
	if w == nil {
		w = &window{}
		s.m[key] = w
	}
	w.pushTail(t, limit, l.tail)
	return Admission{Allowed: true, Limit: limit, Remaining: limit - w.n, Reset: w.untilOldestLeaves(t)}
}

// sweep drops a few idle keys of the shard, other than skip.
func (s *limiterShard) sweep(now int64, skip string) {
	seen := 0
	for k, w := range s.m {
		if seen == sweepBudget {
			return
		}
		seen++
		if k == skip {
			continue
		}
		w.evict(now)
		if w.n == 0 {
			delete(s.m, k)
		}
	}
}

// Len counts keys with a window in memory.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
