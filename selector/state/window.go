package state

import (
	"time"

	"github.com/cpen/router/config"
)

// Window is the span of the sliding RPM windows.
const Window = 60 * time.Second

// MaxLimit caps a window's limit, and so its memory: the largest RPM
// figure a catalog or a client may state.
const MaxLimit = config.MaxRPM

// window is a ring of admission times (Unix nanoseconds), oldest first.
// Admissions leave it only by time, never because a check used a lower
// limit: every admission of the last Window counts against every check,
// whatever limit that check applies. Since a check admits only while
// fewer than its limit are in the window, and limits are capped at
// MaxLimit, the ring never holds more than MaxLimit entries.
type window struct {
	buf  []int64
	head int // index of the oldest entry
	n    int
}

// evict drops admissions that left the window by now: an admission at t
// counts while now < t + Window.
func (w *window) evict(now int64) {
	cutoff := now - int64(Window)
	for w.n > 0 && w.buf[w.head] <= cutoff {
		w.head = (w.head + 1) % len(w.buf)
		w.n--
	}
}

// nth is the time of the i-th oldest admission, from 0.
func (w *window) nth(i int) int64 { return w.buf[(w.head+i)%len(w.buf)] }

func (w *window) newest() int64 { return w.nth(w.n - 1) }

// push records an admission at now (kept in order even if the clock steps
// back). The caller admitted it under limit, so n < limit ≤ MaxLimit; the
// ring grows by doubling but never past limit, so a key that only ever
// sees small limits keeps a small ring.
func (w *window) push(now int64, limit int) {
	if w.n > 0 && now < w.newest() {
		now = w.newest()
	}
	if w.n == len(w.buf) {
		size := min(max(4, 2*len(w.buf)), limit)
		buf := make([]int64, size)
		for i := range w.n {
			buf[i] = w.nth(i)
		}
		w.buf, w.head = buf, 0
	}
	w.buf[(w.head+w.n)%len(w.buf)] = now
	w.n++
}

// untilOldestLeaves is how long until the oldest admission leaves the
// window (0 when it is empty).
func (w *window) untilOldestLeaves(now int64) time.Duration {
	if w.n == 0 {
		return 0
	}
	return time.Duration(w.nth(0) + int64(Window) - now)
}

// freeAt is when a check with limit, denied because n ≥ limit, would pass:
// once n - limit + 1 admissions have left, limit - 1 remain. That is when
// the (n - limit + 1)-th oldest admission leaves.
func (w *window) freeAt(limit int) int64 { return w.nth(w.n-limit) + int64(Window) }

// clampLimit caps a limit at MaxLimit.
func clampLimit(limit int) int { return min(limit, MaxLimit) }
