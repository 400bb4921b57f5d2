package redisstate

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
			name:      "fail-closed: denied, retry in a second",
			opts:      []Option{WithFailClosed(true)},
			wantAdmit: Admission{Limit: 5, Reset: time.Second, RetryAfter: time.Second},
			wantPeek:  Admission{Limit: 5, Reset: time.Second, RetryAfter: time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRedis(t)
			var h hookLog
			s := New(r.Client(t), append(tt.opts, WithErrorHook(h.hook))...)
			l, p := s.Limiter(), s.Pins()
			pin := selector.Pin{RouteID: "r"}
			// Up: the window fills, the pin is kept, no errors.
			for range 5 {
				l.Admit("k", 5, t0)
			}
			p.Set("k", "a", pin, t0)
			if got := l.Peek("k", 5, t0); got.Allowed {
				t.Fatalf("full window allowed: %+v", got)
			}
			if _, ok := p.Get("k", "a", t0); !ok {
				t.Fatal("pin missing while Redis is up")
			}
			if ops, _ := h.take(); len(ops) != 0 {
				t.Fatalf("hook called while Redis is up: %q", ops)
			}

			r.Stop()
			start := time.Now()
			if got := l.Admit("k", 5, t0); got != tt.wantAdmit {
				t.Errorf("Admit: got %+v, want %+v", got, tt.wantAdmit)
			}
			if got := l.Peek("k", 5, t0); got != tt.wantPeek {
				t.Errorf("Peek: got %+v, want %+v", got, tt.wantPeek)
			}
			if got := l.Admit("k", 0, t0); got != (Admission{Allowed: true}) {
				t.Errorf("unlimited Admit: got %+v", got)
			}
			if _, ok := p.Get("k", "a", t0); ok {
				t.Error("pin read with Redis down")
			}
			p.Set("k", "a", pin, t0)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("five calls took %v with Redis down", d)
			}
			ops, errs := h.take()
			if want := []string{"limiter.admit", "limiter.peek", "pins.get", "pins.set"}; !slices.Equal(ops, want) {
				t.Errorf("hook ops = %q, want %q (an unlimited check does not reach Redis)", ops, want)
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
	var h hookLog
	s := New(r.Client(t), WithTimeout(50*time.Millisecond), WithErrorHook(h.hook))
	l := s.Limiter()
	l.Admit("k", 5, t0) // connect and load the script while Redis answers
	if err := admin.Do(ctx, "CLIENT", "PAUSE", 2000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := l.Admit("k", 5, at(time.Second))
	took := time.Since(start)
	if err := redis.NewClient(&redis.Options{Addr: r.Addr}).Close(); err != nil {
		t.Fatal(err)
	}
	unpause := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer unpause.Close()
	// CLIENT UNPAUSE is answered during a pause (admin commands are exempt).
	if err := unpause.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
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
	// Redis answers again: the window kept the first admission only.
	want := Admission{Allowed: true, Limit: 5, Remaining: 3, Reset: 58 * time.Second}
	if got := l.Admit("k", 5, at(2*time.Second)); got != want {
		t.Errorf("after the pause: got %+v, want %+v", got, want)
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
