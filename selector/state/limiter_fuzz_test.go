package state

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"
)

// FuzzLimiter drives one key through Admit and Peek calls with mixed
// limits, clock steps forward and back, and compares every answer with a
// plain list of admission times that applies the window's rounding: a
// limiter keeping 4 exact times (so per-second counts are used) against
// the list rounding the same way, and one keeping ExactTail against the
// exact list (limits stay below ExactTail, so nothing is rounded). Each
// call is three bytes: the time step (units of 250 ms, backwards when the
// third byte's bit 1 is set, then in units of 10 ms), the limit (-1 to
// 22) and Peek (bit 0 of the third).
func FuzzLimiter(f *testing.F) {
	f.Add([]byte{0, 21, 0, 1, 2, 0, 1, 21, 0, 1, 2, 1, 240, 5, 0, 1, 2, 0})
	f.Add([]byte{0, 4, 0, 0, 4, 0, 0, 4, 0, 0, 4, 0, 4, 3, 1, 200, 2, 0, 8, 2, 2})
	f.Add([]byte{0, 2, 0, 100, 2, 2, 0, 2, 0, 240, 2, 0, 1, 0, 0})
	f.Add([]byte{1, 20, 0, 1, 20, 0, 1, 20, 0, 1, 20, 0, 1, 20, 0, 1, 20, 0, 236, 20, 0, 2, 20, 1, 2, 3, 1, 1, 20, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		small, full := newLimiter(4), NewLimiter()
		rounded, exact := model{tail: 4}, model{tail: math.MaxInt}
		now := t0
		for i := 0; i+2 < len(ops); i += 3 {
			step, limit, peek := ops[i], int(ops[i+1]%24)-1, ops[i+2]&1 == 1
			if ops[i+2]&2 != 0 {
				now = now.Add(-time.Duration(step) * 10 * time.Millisecond)
			} else {
				now = now.Add(time.Duration(step) * 250 * time.Millisecond)
			}
			for _, c := range []struct {
				l *Limiter
				m *model
			}{{small, &rounded}, {full, &exact}} {
				var got Admission
				if peek {
					got = c.l.Peek(context.Background(), "k", limit, now)
				} else {
					got = c.l.Admit(context.Background(), "k", limit, now)
				}
				if want, _ := c.m.check(limit, now.UnixNano(), !peek); got != want {
					t.Fatalf("tail %d, call %d (limit %d, peek %v, t=%v): got %+v, want %+v",
						c.l.tail, i/3, limit, peek, now.Sub(t0), got, want)
				}
			}
			if w := small.shards[shardOf("k")].m["k"]; w != nil && w.b != nil && w.b.len > 61 {
				t.Fatalf("call %d: %d counted seconds", i/3, w.b.len)
			}
		}
	})
}

// model is the window kept the plain way: every admission time, oldest
// first, each marked once the window would count it per second (when tail
// newer ones were taken while it was in the window). A marked admission
// leaves at the end of its second plus Window, others at their time plus
// Window. With tail math.MaxInt it is the exact rule.
type model struct {
	tail  int
	times []modelTime
}

type modelTime struct {
	at      int64
	counted bool
}

func (e modelTime) exit() int64 {
	if e.counted {
		return bucketExit(secondOf(e.at))
	}
	return e.at + int64(Window)
}

// live drops admissions that left by now.
func (m *model) live(now int64) {
	kept := m.times[:0]
	for _, e := range m.times {
		if now < e.exit() {
			kept = append(kept, e)
		}
	}
	m.times = kept
}

// check answers a check and, when take and allowed, records the
// admission; it returns the time recorded (0 when none).
func (m *model) check(limit int, now int64, take bool) (Admission, int64) {
	if limit <= 0 {
		return Admission{Allowed: true}, 0
	}
	m.live(now)
	n := len(m.times)
	reset := func() time.Duration {
		if len(m.times) == 0 {
			return 0
		}
		return time.Duration(m.times[0].exit() - now)
	}
	if n >= limit {
		exits := make([]int64, n)
		for i, e := range m.times {
			exits[i] = e.exit()
		}
		slices.Sort(exits)
		// Once the first n-limit+1 admissions leave, limit-1 remain.
		retry := time.Duration(exits[n-limit] - now)
		return Admission{Limit: limit, Reset: reset(), RetryAfter: max(retry, time.Second)}, 0
	}
	var at int64
	if take {
		at = now
		if n > 0 {
			// No earlier than the newest exact time, or without one the
			// start of the newest counted second.
			last := m.times[n-1]
			floor := last.at
			if last.counted {
				floor = secondOf(last.at) * int64(time.Second)
			}
			at = max(at, floor)
		}
		m.times = append(m.times, modelTime{at: at})
		exact := 0
		for _, e := range m.times {
			if !e.counted {
				exact++
			}
		}
		if exact > m.tail {
			for i := range m.times {
				if !m.times[i].counted {
					m.times[i].counted = true
					break
				}
			}
		}
	}
	return Admission{Allowed: true, Limit: limit, Remaining: limit - len(m.times), Reset: reset()}, at
}
