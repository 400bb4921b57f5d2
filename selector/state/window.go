package state

import "time"

// Window is the span of the sliding RPM windows.
const Window = 60 * time.Second

// maxLimit caps a window's limit, and so its memory.
const maxLimit = 1_000_000

// window is a ring of admission times (Unix nanoseconds), oldest first. It
// holds at most the current limit of entries and grows lazily.
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

// trim keeps the newest limit entries. A denial then retries when the
// oldest kept one leaves, exactly as if all were kept.
func (w *window) trim(limit int) {
	for w.n > limit {
		w.head = (w.head + 1) % len(w.buf)
		w.n--
	}
}

func (w *window) oldest() int64 { return w.buf[w.head] }

func (w *window) newest() int64 { return w.buf[(w.head+w.n-1)%len(w.buf)] }

// push records an admission at now (kept in order even if the clock steps
// back), growing the ring up to limit entries. The caller ensures n < limit.
func (w *window) push(now int64, limit int) {
	if w.n > 0 && now < w.newest() {
		now = w.newest()
	}
	if w.n == len(w.buf) {
		size := max(4, 2*len(w.buf))
		size = min(size, limit)
		buf := make([]int64, size)
		for i := range w.n {
			buf[i] = w.buf[(w.head+i)%len(w.buf)]
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
	return time.Duration(w.oldest() + int64(Window) - now)
}

// clampLimit caps a limit at maxLimit.
func clampLimit(limit int) int { return min(limit, maxLimit) }
