package redisstate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cpen/router/selector/state"
)

var _ HealthTarget = (*state.Health)(nil)

// An ejection seen by replica A reaches replica B through Redis with its
// end (to the millisecond) and back-off; a later, shorter ejection does
// not shorten it; the key expires when the ejection ends.
func TestSharedHealthCarriesEjections(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	now := at(0)
	clock := func() time.Time { return now }
	shA := NewSharedHealth(newStore(t, r.Client(t)), clock)
	shB := NewSharedHealth(newStore(t, r.Client(t)), clock)
	a, b := state.NewHealth("r1", "r2"), state.NewHealth("r2", "r1")
	a.OnEject(shA.Publish)
	b.OnEject(shB.Publish)
	a.Advance(now)
	b.Advance(now)

	a.ObserveFailure(0, 0, 10*time.Second, now) // r1 out for 10s
	shA.Flush(ctx)
	shB.Refresh(ctx, b)
	if got := b.DownUntil(1); !got.Equal(at(10 * time.Second)) {
		t.Fatalf("B's r1 DownUntil = t0+%v, want t0+10s", got.Sub(t0))
	}
	if b.DownUntil(0) != (time.Time{}) {
		t.Error("B's r2 ejected, yet no replica ejected it")
	}
	// B's own shorter ejection of r1 is stored nowhere over A's.
	shB.Publish("r1", at(2*time.Second), time.Second)
	shB.Flush(ctx)
	c := state.NewHealth("r1")
	c.Advance(now)
	NewSharedHealth(newStore(t, r.Client(t)), clock).Refresh(ctx, c)
	if got := c.DownUntil(0); !got.Equal(at(10 * time.Second)) {
		t.Errorf("a third replica reads r1 until t0+%v, want t0+10s: a shorter write won", got.Sub(t0))
	}
	// A failure of a request sent after the shared ejection ended doubles
	// from its back-off (EjectBase), on the replica that had only heard of it.
	c.Observe(0, 0, true, at(10*time.Second))
	if got := c.DownUntil(0); !got.Equal(at(10*time.Second + 2*state.EjectBase)) {
		t.Errorf("C's own failure after the shared ejection: until t0+%v, want t0+12s", got.Sub(t0))
	}
	ttl := r.Client(t).PTTL(ctx, DefaultPrefix+"health:r1").Val()
	if ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Errorf("r1's key expires in %v, want when its ejection ends (10s)", ttl)
	}
}

// A value nobody could have written is reported and skipped; an ejection
// already over is neither written nor applied.
func TestSharedHealthBadAndPastValues(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	now := at(time.Minute)
	clock := func() time.Time { return now }
	var mu sync.Mutex
	var ops []string
	hook := func(op string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, errBadHealth) {
			ops = append(ops, op)
		}
	}
	sh := NewSharedHealth(New(r.Client(t), WithTimeout(10*time.Second), WithErrorHook(hook)), clock)
	client := r.Client(t)
	client.Set(ctx, DefaultPrefix+"health:bad", "soon|x", time.Hour)
	client.Set(ctx, DefaultPrefix+"health:past", "1|1000", time.Hour)
	sh.Publish("gone", at(time.Second), time.Second)
	sh.Flush(ctx)
	if n := client.Exists(ctx, DefaultPrefix+"health:gone").Val(); n != 0 {
		t.Error("an ejection already over was written")
	}
	h := state.NewHealth("bad", "past", "gone")
	h.Advance(now)
	sh.Refresh(ctx, h)
	for i := range 3 {
		if h.Route(i).Down {
			t.Errorf("route %d ejected by a bad or past value", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ops) != 1 || ops[0] != "health.read" {
		t.Errorf("malformed values reported as %v, want one health.read", ops)
	}
}

// ejectSignal is a HealthTarget that says when an ejection was applied.
type ejectSignal struct {
	*state.Health
	applied chan string
}

func (e ejectSignal) Eject(id string, until time.Time, backoff time.Duration) {
	e.Health.Eject(id, until, backoff)
	select {
	case e.applied <- id:
	default:
	}
}

// Run writes an ejection as soon as it is published and the other
// replica's Run applies it on its next refresh; both stop with ctx.
func TestSharedHealthRun(t *testing.T) {
	r := startRedis(t)
	clock := time.Now
	shA := NewSharedHealth(newStore(t, r.Client(t)), clock)
	shB := NewSharedHealth(newStore(t, r.Client(t)), clock)
	a := state.NewHealth("r1")
	a.OnEject(shA.Publish)
	b := ejectSignal{Health: state.NewHealth("r1"), applied: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { shA.Run(ctx, func() HealthTarget { return a }, 20*time.Millisecond) })
	wg.Go(func() { shB.Run(ctx, func() HealthTarget { return b }, 20*time.Millisecond) })
	defer func() { cancel(); wg.Wait() }()

	a.ObserveFailure(0, 0, time.Minute, time.Now())
	select {
	case id := <-b.applied:
		b.Advance(time.Now())
		if id != "r1" || !b.Route(0).Down {
			t.Errorf("B applied %q; r1 down on B: %v", id, b.Route(0).Down)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B never applied A's ejection")
	}
}
