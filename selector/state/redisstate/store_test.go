package redisstate

import (
	"context"
	"errors"
	"github.com/cpen/router/selector/state"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cpen/router/selector"
)

// hookLog records the error hook's calls.
type hookLog struct {
	mu   sync.Mutex
	ops  []string
	errs []error
}

func (h *hookLog) hook(op string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	h.errs = append(h.errs, err)
}

func (h *hookLog) take() ([]string, []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops, errs := h.ops, h.errs
	h.ops, h.errs = nil, nil
	return ops, errs
}

// With Redis stopped mid-test, the limiter answers by its setting, pins
// miss, each failure reaches the hook, and no call outlasts its timeout
// by much.
func TestRedisDown(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		wantAdmit Admission
		wantPeek  Admission
	}{
		{
			name:      "fail-open by default: as if the window were empty",
			wantAdmit: Admission{Allowed: true, Limit: 5, Remaining: 4, Reset: 60 * time.Second},
			wantPeek:  Admission{Allowed: true, Limit: 5, Remaining: 5},
		},
		{
			name:      "fail-closed: unavailable, nothing decided",
			opts:      []Option{WithFailClosed(true)},
			wantAdmit: Admission{Limit: 5, Unavailable: true},
			wantPeek:  Admission{Limit: 5, Unavailable: true},
		},
		{
			name:      "fail-open with a fallback: this replica's own window",
			opts:      []Option{WithFallback(state.NewLimiter(), state.NewPins())},
			wantAdmit: Admission{Allowed: true, Limit: 5, Remaining: 4, Reset: 60 * time.Second},
			wantPeek:  Admission{Allowed: true, Limit: 5, Remaining: 4, Reset: 60 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRedis(t)
			c := r.Client(t)
			// Up: the window fills and the pin is kept, without errors
			// (through a Store with a generous timeout, on the same client).
			up := newStore(t, c, tt.opts...)
			pin := selector.Pin{RouteID: "r"}
			for range 5 {
				up.Limiter().Admit(context.Background(), "k", 5, t0)
			}
			up.Pins().Set(context.Background(), "k", "a", pin, t0)
			if got := up.Limiter().Peek(context.Background(), "k", 5, t0); got.Allowed {
				t.Fatalf("full window allowed: %+v", got)
			}
			if _, ok := up.Pins().Get(context.Background(), "k", "a", t0); !ok {
				t.Fatal("pin missing while Redis is up")
			}

			r.Stop()
			// A failing call lasts its whole timeout: go-redis redials
			// until the deadline.
			const timeout = 100 * time.Millisecond
			var h hookLog
			s := New(c, append(tt.opts, WithTimeout(timeout), WithErrorHook(h.hook))...)
			l, p := s.Limiter(), s.Pins()
			start := time.Now()
			if got := l.Admit(context.Background(), "k", 5, t0); got != tt.wantAdmit {
				t.Errorf("Admit: got %+v, want %+v", got, tt.wantAdmit)
			}
			if got := l.Peek(context.Background(), "k", 5, t0); got != tt.wantPeek {
				t.Errorf("Peek: got %+v, want %+v", got, tt.wantPeek)
			}
			if got := l.Admit(context.Background(), "k", 0, t0); got != (Admission{Allowed: true}) {
				t.Errorf("unlimited Admit: got %+v", got)
			}
			if _, ok := p.Get(context.Background(), "k", "a", t0); ok {
				t.Error("pin read with Redis down")
			}
			p.Set(context.Background(), "k", "a", pin, t0)
			_, kept := p.Get(context.Background(), "k", "a", t0)
			if withFallback := len(tt.opts) > 0 && tt.wantPeek.Allowed; kept != withFallback {
				t.Errorf("pin set while Redis is down read back %v, want %v (only a fallback keeps it)", kept, withFallback)
			}
			// The first call waits out its timeout and opens the breaker;
			// the others fail at once.
			if d := time.Since(start); d > 2*timeout+300*time.Millisecond {
				t.Errorf("five failing calls took %v with a %v timeout", d, timeout)
			} else {
				t.Logf("five failing calls took %v with a %v timeout", d, timeout)
			}
			if s.Up() {
				t.Error("Up() with Redis down")
			}
			ops, errs := h.take()
			if want := []string{"limiter.admit"}; !slices.Equal(ops, want) {
				t.Errorf("hook ops = %q, want %q (the breaker keeps the others from Redis)", ops, want)
			}
			for i, err := range errs {
				if err == nil {
					t.Errorf("hook call %d without an error", i)
				}
			}
		})
	}
}

// Each call gives up after its timeout when Redis does not answer.
func TestTimeout(t *testing.T) {
	r := startRedis(t)
	admin := r.Client(t)
	ctx := context.Background()
	c := r.Client(t)
	// Connect and load the script while Redis answers, without a tight
	// timeout that a busy machine could hit.
	newStore(t, c).Limiter().Admit(context.Background(), "k", 5, t0)
	var h hookLog
	l := New(c, WithTimeout(50*time.Millisecond), WithErrorHook(h.hook)).Limiter()
	// CLIENT PAUSE ALL holds every client's commands, UNPAUSE included,
	// until it ends.
	const pause = 300 * time.Millisecond
	if err := admin.Do(ctx, "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := l.Admit(context.Background(), "k", 5, at(time.Second))
	took := time.Since(start)
	t.Logf("Admit gave up after %v", took)
	// The paused server answers admin's PING only once the pause is over:
	// the next test starts against a Redis that answers.
	if err := admin.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if want := (Admission{Allowed: true, Limit: 5, Remaining: 4, Reset: 60 * time.Second}); got != want {
		t.Errorf("Admit under pause: got %+v, want the fail-open %+v", got, want)
	}
	if took > 500*time.Millisecond {
		t.Errorf("Admit took %v with a 50ms timeout", took)
	}
	ops, errs := h.take()
	if len(ops) != 1 || ops[0] != "limiter.admit" {
		t.Fatalf("hook ops = %q, want [limiter.admit]", ops)
	}
	var ne net.Error
	if !errors.Is(errs[0], context.DeadlineExceeded) && !(errors.As(errs[0], &ne) && ne.Timeout()) {
		t.Errorf("hook error = %v, want a timeout", errs[0])
	}
	// Redis answers again. (Whether the timed-out call took a slot depends
	// on whether Redis ran it before the client hung up.)
	if got := l.Admit(context.Background(), "k", 5, at(2*time.Second)); !got.Allowed || got.Remaining < 2 {
		t.Errorf("after the pause: got %+v", got)
	}
	if ops, _ := h.take(); len(ops) != 0 {
		t.Errorf("hook called after the pause: %q", ops)
	}
}

func TestOptions(t *testing.T) {
	s := New(nil)
	if s.opts.prefix != DefaultPrefix || s.opts.timeout != DefaultTimeout || s.opts.failClosed || s.opts.onError != nil {
		t.Errorf("defaults: %+v", s.opts)
	}
	s = New(nil, WithPrefix("p:"), WithTimeout(time.Second), WithFailClosed(true), WithTimeout(0))
	if s.opts.prefix != "p:" || s.opts.timeout != time.Second || !s.opts.failClosed {
		t.Errorf("options: %+v", s.opts)
	}
	if a, b := New(nil), New(nil); a.member == b.member {
		t.Errorf("two Stores share the member suffix %q", a.member)
	}
}
