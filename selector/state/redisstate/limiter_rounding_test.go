package redisstate

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector/state"
)

// On random sequences busy enough that most admissions are counted per
// second, the Redis window answers exactly as the in-process one, whether
// a check goes through Admit, Peek or the ledger's AdmitReserve (one
// window, one rounding).
func TestLimiterRoundingMatchesInProcess(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	rng := rand.New(rand.NewPCG(3, 4))
	limits := []int{1, 30, 100, 300, 300}
	hold := state.Hold{Account: "acct", Credit: decimal.NewFromInt(1_000_000)}
	var counted int
	for seq := range 4 {
		s := newStore(t, c, WithPrefix("seq"+string(rune('a'+seq))+":"))
		l, ledger, mem := s.Limiter(), s.Ledger(), state.NewLimiter()
		now := t0
		for call := range 600 {
			switch x := rng.IntN(100); {
			case x < 85:
				now = now.Add(time.Duration(rng.Int64N(int64(80 * time.Millisecond))))
			case x < 97:
				now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Second))))
			default:
				now = now.Add(-time.Duration(rng.Int64N(int64(2 * time.Second))))
			}
			limit := limits[rng.IntN(len(limits))]
			var got, want Admission
			switch rng.IntN(4) {
			case 0:
				got, want = l.Peek(context.Background(), "k", limit, now), mem.Peek(context.Background(), "k", limit, now)
			case 1:
				var err error
				got, _, err = ledger.AdmitReserve(context.Background(), "k", limit, hold, now)
				if err != nil {
					t.Fatal(err)
				}
				want = mem.Admit(context.Background(), "k", limit, now)
			default:
				got, want = l.Admit(context.Background(), "k", limit, now), mem.Admit(context.Background(), "k", limit, now)
			}
			if got != want {
				t.Fatalf("seq %d call %d (limit %d, t=%v): Redis %+v, in process %+v", seq, call, limit, now.Sub(t0), got, want)
			}
			if c.Exists(context.Background(), "seq"+string(rune('a'+seq))+":rpm:k:s").Val() == 1 {
				counted++
			}
		}
	}
	if counted < 600 {
		t.Fatalf("per-second counts held on %d calls of 2400: the sequences do not exercise them", counted)
	}
}

// A key admitted 20,000 times at the largest limit over 70 s keeps at
// most state.ExactTail exact members and 61 counted seconds (plus the
// summary field), and counts every admission still in the window.
func TestLimiterMemoryBounded(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	l, mem := newStore(t, c).Limiter(), state.NewLimiter()
	const total, step = 20_000, 3500 * time.Microsecond // 70 s
	for i := range total {
		now := at(time.Duration(i) * step)
		got, want := l.Admit(ctx, "k", 5_000_000, now), mem.Admit(ctx, "k", 5_000_000, now)
		if got != want {
			t.Fatalf("admission %d: Redis %+v, in process %+v", i, got, want)
		}
		if i%1000 == 999 {
			if z, h := c.ZCard(ctx, "cpen:rpm:k").Val(), c.HLen(ctx, "cpen:rpm:k:s").Val(); z > state.ExactTail || h > 62 {
				t.Fatalf("after %d admissions: ZCARD %d, HLEN %d", i+1, z, h)
			}
		}
	}
	if z, h := c.ZCard(ctx, "cpen:rpm:k").Val(), c.HLen(ctx, "cpen:rpm:k:s").Val(); z != state.ExactTail || h < 60 || h > 62 {
		t.Errorf("ZCARD %d, HLEN %d; want %d, 60 to 62", z, h, state.ExactTail)
	}
	if ttl := c.PTTL(ctx, "cpen:rpm:k:s").Val(); ttl <= 60*time.Second || ttl > state.Window+time.Second {
		t.Errorf("counts' PTTL = %v, want about %v", ttl, state.Window+time.Second)
	}
	// Once every admission has left, both keys are gone.
	l.Peek(ctx, "k", 1, at(time.Duration(total)*step+2*time.Minute))
	if n := c.Exists(ctx, "cpen:rpm:k", "cpen:rpm:k:s").Val(); n != 0 {
		t.Errorf("%d window keys left after the window", n)
	}
}
