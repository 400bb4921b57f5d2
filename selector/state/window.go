package state

import (
	"time"

	"github.com/cpen/router/config"
)

// Window is the span of the sliding RPM windows.
const Window = 60 * time.Second

// MaxLimit caps a window's limit: the largest RPM figure a catalog or a
// client may state.
const MaxLimit = config.MaxRPM

// ExactTail is how many of a key's newest admissions its window keeps to
// the nanosecond. Older ones are only counted per whole second (see
// window), so a key's memory is bounded whatever its limit.
const ExactTail = 64

// bucketSlots bounds the per-second counts of a window: the seconds of
// its admissions always span at most 61 (see window).
const bucketSlots = 61

// window holds a key's admissions in the sliding window, in two parts:
// the newest ExactTail (or fewer) as a ring of admission times in Unix
// nanoseconds, oldest first, and every older one as a count per whole
// second of its admission time, oldest second first.
//
// The rounding: an admission at a leaves the window at a + Window while
// it is among the newest ExactTail; once ExactTail newer ones are taken it
// moves to its second's count and leaves at the end of that second plus
// Window, that is up to one second later than its own time says, never
// earlier. So the window counts every admission the exact rule counts,
// plus those counted per second that are in the last second of their
// stay: it never admits more than the exact rule would. While no counted
// second holds an admission, every answer is the exact one; otherwise
// Reset and RetryAfter are at most one second later (as whole seconds,
// rounded up, equal or one more) when the counts agree.
//
// Admissions leave only by time, never because a check used a lower
// limit: every admission in the window counts against every check,
// whatever limit that check applies.
//
// Bound on the seconds: admission times are recorded no earlier than the
// newest one kept (see push), so the first admission recorded in a
// second S is recorded at the check's own clock, whose eviction has just
// dropped every admission of a second before S-60. Every admission left
// is in [S-60, S]: 61 seconds.
type window struct {
	buf  []int64 // the ring of exact times
	head int     // index of the oldest exact time
	ne   int     // exact times held
	n    int     // admissions in the window: ne plus the counted ones
	b    *buckets
}

// buckets are the per-second counts of a window, a ring of seconds in
// increasing order, allocated once a key first takes more than
// ExactTail admissions.
type buckets struct {
	sec  [bucketSlots]int64 // whole Unix second
	cnt  [bucketSlots]int32 // admissions in it (at most MaxLimit)
	head int
	len  int
}

// secondOf is the whole Unix second of t (ns), rounding down.
func secondOf(t int64) int64 {
	s := t / int64(time.Second)
	if t%int64(time.Second) < 0 {
		s--
	}
	return s
}

// bucketExit is when the admissions counted in second s leave the window.
func bucketExit(s int64) int64 { return (s+1)*int64(time.Second) + int64(Window) }

// evict drops admissions that left the window by now: an exact one at t
// counts while now < t + Window, one counted in second s while now <
// bucketExit(s).
func (w *window) evict(now int64) {
	cutoff := now - int64(Window)
	for w.ne > 0 && w.buf[w.head] <= cutoff {
		w.head = (w.head + 1) % len(w.buf)
		w.ne--
		w.n--
	}
	b := w.b
	if b == nil {
		return
	}
	for b.len > 0 && bucketExit(b.sec[b.head]) <= now {
		w.n -= int(b.cnt[b.head])
		b.head = (b.head + 1) % bucketSlots
		b.len--
	}
}

// nth is the time of the i-th oldest exact admission, from 0.
func (w *window) nth(i int) int64 { return w.buf[(w.head+i)%len(w.buf)] }

// floor is the earliest time a new admission may be recorded at: the
// newest exact time, or without one the start of the newest counted
// second, so that exact times never precede a counted second.
func (w *window) floor() (int64, bool) {
	if w.ne > 0 {
		return w.nth(w.ne - 1), true
	}
	if b := w.b; b != nil && b.len > 0 {
		return b.sec[(b.head+b.len-1)%bucketSlots] * int64(time.Second), true
	}
	return 0, false
}

// push records an admission at now, keeping ExactTail times exact.
func (w *window) push(now int64, limit int) { w.pushTail(now, limit, ExactTail) }

// pushTail records an admission at now, or at floor() if the clock is
// behind it. The caller admitted it under limit, so n < limit. The ring
// grows by doubling up to min(limit, tail) slots; when it holds tail
// times, the oldest moves to its second's count.
func (w *window) pushTail(now int64, limit, tail int) {
	if f, ok := w.floor(); ok && now < f {
		now = f
	}
	switch {
	case w.ne == tail:
		w.bucket(secondOf(w.buf[w.head]))
		w.head = (w.head + 1) % len(w.buf)
		w.ne--
	case w.ne == len(w.buf):
		size := min(max(4, 2*len(w.buf)), limit, tail)
		buf := make([]int64, size)
		for i := range w.ne {
			buf[i] = w.nth(i)
		}
		w.buf, w.head = buf, 0
	}
	w.buf[(w.head+w.ne)%len(w.buf)] = now
	w.ne++
	w.n++
}

// bucket counts one admission of second s, no earlier than the newest
// counted second. Should the seconds ever outgrow their bound, the
// oldest count joins the next one: its admissions then leave later,
// never earlier, so the window stays on the safe side.
func (w *window) bucket(s int64) {
	if w.b == nil {
		w.b = &buckets{}
	}
	b := w.b
	if b.len > 0 {
		last := (b.head + b.len - 1) % bucketSlots
		if b.sec[last] == s {
			b.cnt[last]++
			return
		}
	}
	if b.len == bucketSlots {
		next := (b.head + 1) % bucketSlots
		b.cnt[next] += b.cnt[b.head]
		b.head = next
		b.len--
	}
	i := (b.head + b.len) % bucketSlots
	b.sec[i], b.cnt[i] = s, 1
	b.len++
}

// firstExit is when the oldest admission in the window leaves it: the
// oldest counted second if any, else the oldest exact time.
func (w *window) firstExit() (int64, bool) {
	if b := w.b; b != nil && b.len > 0 {
		return bucketExit(b.sec[b.head]), true
	}
	if w.ne > 0 {
		return w.nth(0) + int64(Window), true
	}
	return 0, false
}

// untilOldestLeaves is how long until the oldest admission leaves the
// window (0 when it is empty).
func (w *window) untilOldestLeaves(now int64) time.Duration {
	e, ok := w.firstExit()
	if !ok {
		return 0
	}
	return time.Duration(e - now)
}

// exitAt is when the k-th admission (from 0, k < n) to leave the
// window leaves it. Exact times are never in an earlier second than a
// counted one, so only those in the same second as a count leave before
// it.
func (w *window) exitAt(k int) int64 {
	i := 0 // exact times passed
	if b := w.b; b != nil {
		for j := range b.len {
			s := b.sec[(b.head+j)%bucketSlots]
			for ; i < w.ne && secondOf(w.nth(i)) == s; i++ {
				if k == 0 {
					return w.nth(i) + int64(Window)
				}
				k--
			}
			c := int(b.cnt[(b.head+j)%bucketSlots])
			if k < c {
				return bucketExit(s)
			}
			k -= c
		}
	}
	return w.nth(i+k) + int64(Window)
}

// freeAt is when a check with limit, denied because n ≥ limit, would
// pass: once n - limit + 1 admissions have left, limit - 1 remain.
func (w *window) freeAt(limit int) int64 { return w.exitAt(w.n - limit) }

// clampLimit caps a limit at MaxLimit.
func clampLimit(limit int) int { return min(limit, MaxLimit) }
