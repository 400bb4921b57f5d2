package state

import (
	"context"
	"testing"
	"time"
)

// FuzzLimiter drives one key through Admit and Peek calls with mixed
// limits, clock steps forward and back, and compares every answer with a
// plain list of admission times. Each call is three bytes: the time step
// (units of 250 ms, backwards when the third byte's bit 1 is set, then in
// units of 10 ms), the limit (-1 to 22) and Peek (bit 0 of the third).
func FuzzLimiter(f *testing.F) {
	f.Add([]byte{0, 21, 0, 1, 2, 0, 1, 21, 0, 1, 2, 1, 240, 5, 0, 1, 2, 0})
	f.Add([]byte{0, 4, 0, 0, 4, 0, 0, 4, 0, 0, 4, 0, 4, 3, 1, 200, 2, 0, 8, 2, 2})
	f.Add([]byte{0, 2, 0, 100, 2, 2, 0, 2, 0, 240, 2, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		l := NewLimiter()
		var m model
		now := t0
		for i := 0; i+2 < len(ops); i += 3 {
			step, limit, peek := ops[i], int(ops[i+1]%24)-1, ops[i+2]&1 == 1
			if ops[i+2]&2 != 0 {
				now = now.Add(-time.Duration(step) * 10 * time.Millisecond)
			} else {
				now = now.Add(time.Duration(step) * 250 * time.Millisecond)
			}
			var got Admission
			if peek {
				got = l.Peek(context.Background(), "k", limit, now)
			} else {
				got = l.Admit(context.Background(), "k", limit, now)
			}
			if want := m.check(limit, now.UnixNano(), !peek); got != want {
				t.Fatalf("call %d (limit %d, peek %v, t=%v): got %+v, want %+v", i/3, limit, peek, now.Sub(t0), got, want)
			}
		}
	})
}

// model is the window kept the plain way: every admission time, oldest
// first.
type model struct{ times []int64 }

func (m *model) check(limit int, now int64, take bool) Admission {
	if limit <= 0 {
		return Admission{Allowed: true}
	}
	var kept []int64
	for _, a := range m.times {
		if now < a+int64(Window) {
			kept = append(kept, a)
		}
	}
	m.times = kept
	n := len(m.times)
	reset := func() time.Duration {
		if len(m.times) == 0 {
			return 0
		}
		return time.Duration(m.times[0] + int64(Window) - now)
	}
	if n >= limit {
		// Once the first n-limit+1 admissions leave, limit-1 remain.
		retry := time.Duration(m.times[n-limit] + int64(Window) - now)
		return Admission{Limit: limit, Reset: reset(), RetryAfter: max(retry, time.Second)}
	}
	if take {
		t := now
		if n > 0 && m.times[n-1] > t {
			t = m.times[n-1]
		}
		m.times = append(m.times, t)
	}
	return Admission{Allowed: true, Limit: limit, Remaining: limit - len(m.times), Reset: reset()}
}
