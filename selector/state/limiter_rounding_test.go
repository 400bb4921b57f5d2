package state

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The window against the exact log of the same admissions, on random
// sequences of mixed limits, Peeks and clock steps, with 8 exact times
// per key so per-second counts carry most of the window. At every call:
//   - the answer is the rounding model's, exactly;
//   - the window counts every admission the exact log counts, plus only
//     those counted per second that are in the last second of their stay,
//     so it never allows what the exact log denies (with the clock
//     stepping back, "last second" is by the latest clock seen);
//   - with no such admission the counts agree and so do Allowed and
//     Remaining; Reset and RetryAfter are the exact ones when no
//     per-second count is in the window, otherwise at most one second
//     later: as whole seconds rounded up, as the headers show them, equal
//     or one more.
func TestLimiterRoundingAgainstExactLog(t *testing.T) {
	ceil := func(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
	rng := rand.New(rand.NewPCG(1, 2))
	limits := []int{1, 3, 8, 20, 60, 200}
	var calls, rounded, late int
	for seq := range 200 {
		l := newLimiter(8)
		m := model{tail: 8}
		exact := model{tail: math.MaxInt}
		now, latest := t0, t0.UnixNano()
		for call := range 400 {
			switch r := rng.IntN(100); {
			case r < 70:
				now = now.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
			case r < 95:
				now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Second))))
			case r < 98:
				now = now.Add(time.Duration(rng.IntN(40)) * time.Second)
			default:
				now = now.Add(-time.Duration(rng.Int64N(int64(2 * time.Second))))
			}
			limit, peek := limits[rng.IntN(len(limits))], rng.IntN(5) == 0
			ns := now.UnixNano()
			latest = max(latest, ns)
			var got Admission
			if peek {
				got = l.Peek(context.Background(), "k", limit, now)
			} else {
				got = l.Admit(context.Background(), "k", limit, now)
			}
			want, recorded := m.check(limit, ns, !peek)
			if got != want {
				t.Fatalf("seq %d call %d: got %+v, rounding model %+v", seq, call, got, want)
			}
			// The exact log of the same admissions, before this one.
			exact.live(ns)
			nExact, nRounded := len(exact.times), len(m.times)
			inLastSecond, counted := 0, 0
			for _, e := range m.times {
				if e.counted {
					counted++
					// Left by the exact rule at the latest clock seen:
					// the exact log dropped it then, for good.
					if e.at+int64(Window) <= latest {
						inLastSecond++
					}
				}
			}
			if got.Allowed && !peek {
				nRounded-- // m already holds this admission
				if nExact >= limit {
					t.Fatalf("seq %d call %d: allowed with %d in the exact window, limit %d", seq, call, nExact, limit)
				}
				exact.times = append(exact.times, modelTime{at: recorded})
			}
			if nRounded != nExact+inLastSecond {
				t.Fatalf("seq %d call %d: window counts %d, exact log %d, %d in their last second",
					seq, call, nRounded, nExact, inLastSecond)
			}
			calls++
			if counted > 0 {
				rounded++
			}
			if inLastSecond > 0 {
				late++
				continue
			}
			ex, _ := exact.check(limit, ns, false)
			if got.Allowed && !peek {
				ex = Admission{Allowed: true, Limit: limit, Remaining: limit - len(exact.times),
					Reset: time.Duration(exact.times[0].exit() - ns)}
			}
			if counted == 0 {
				if got != ex {
					t.Fatalf("seq %d call %d: nothing counted per second, got %+v, exact %+v", seq, call, got, ex)
				}
				continue
			}
			if got.Allowed != ex.Allowed || got.Remaining != ex.Remaining || got.Limit != ex.Limit {
				t.Fatalf("seq %d call %d: got %+v, exact %+v", seq, call, got, ex)
			}
			for _, d := range [][2]time.Duration{{got.Reset, ex.Reset}, {got.RetryAfter, ex.RetryAfter}} {
				if d[0] < d[1] || d[0]-d[1] > time.Second || ceil(d[0])-ceil(d[1]) > 1 {
					t.Fatalf("seq %d call %d: got %+v, exact %+v: more than a second late", seq, call, got, ex)
				}
			}
		}
	}
	// The sequences must reach both kinds of rounding, or they prove little.
	if rounded < calls/4 || late == 0 {
		t.Fatalf("%d calls, %d with per-second counts, %d with one in its last second", calls, rounded, late)
	}
	t.Logf("%d calls, %d with per-second counts, %d with one in its last second", calls, rounded, late)
}
