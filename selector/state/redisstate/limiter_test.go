package redisstate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/statetest"
)

type Admission = state.Admission

// The table of selector/state's TestLimiterWindow: the Redis limiter gives
// the same answers, and so does the in-process one run beside it.
func TestLimiterWindow(t *testing.T) {
	tests := statetest.LimiterWindowCases()
	r := startRedis(t)
	client := r.Client(t)
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			l := newStore(t, client, WithPrefix("test:"+tt.Name+":")).Limiter()
			mem := state.NewLimiter()
			for i, s := range tt.Steps {
				var got, inProcess Admission
				if s.Peek {
					got, inProcess = l.Peek(context.Background(), "key", s.Limit, at(s.At)), mem.Peek(context.Background(), "key", s.Limit, at(s.At))
				} else {
					got, inProcess = l.Admit(context.Background(), "key", s.Limit, at(s.At)), mem.Admit(context.Background(), "key", s.Limit, at(s.At))
				}
				if got != s.Want {
					t.Fatalf("step %d (t=%v peek=%v): got %+v, want %+v", i, s.At, s.Peek, got, s.Want)
				}
				if got != inProcess {
					t.Fatalf("step %d (t=%v peek=%v): Redis %+v, in process %+v", i, s.At, s.Peek, got, inProcess)
				}
			}
		})
	}
}

func TestLimiterKeysAreSeparate(t *testing.T) {
	r := startRedis(t)
	l := newStore(t, r.Client(t)).Limiter()
	// ':' and '%' in keys cannot make two keys share a window.
	keys := []string{"a", "b", "a:b", "a%3Ab", "guest:127.0.0.1"}
	for _, k := range keys {
		if !l.Admit(context.Background(), k, 1, t0).Allowed {
			t.Fatalf("first admission for %q denied", k)
		}
	}
	for _, k := range keys {
		if l.Admit(context.Background(), k, 1, t0).Allowed {
			t.Fatalf("second admission for %q allowed", k)
		}
	}
}

// The window is one sorted set under the prefix; it holds every admission
// in the window (checks with a lower limit remove none), expires with the
// window, and a window that empties is gone.
func TestLimiterKeyLayout(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	l := newStore(t, c, WithPrefix("p1:")).Limiter()
	for i := range 10 {
		l.Admit(context.Background(), "key:x", 3, at(time.Duration(i)*time.Millisecond))
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "p1:rpm:key%3Ax" {
		t.Fatalf("keys = %q, want [p1:rpm:key%%3Ax]", keys)
	}
	if n := c.ZCard(ctx, keys[0]).Val(); n != 3 {
		t.Errorf("window holds %d admissions with limit 3", n)
	}
	members := c.ZRange(ctx, keys[0], 0, -1).Val()
	for i, m := range members {
		want := pad(at(time.Duration(i) * time.Millisecond).UnixNano())
		if !strings.HasPrefix(m, want+":") {
			t.Errorf("member %d = %q, want time %s first", i, m, want)
		}
	}
	if ttl := c.PTTL(ctx, keys[0]).Val(); ttl <= 59*time.Second || ttl > state.Window {
		t.Errorf("PTTL = %v, want about %v", ttl, state.Window)
	}
	l.Admit(context.Background(), "key:x", 2, at(time.Second))
	l.Peek(context.Background(), "key:x", 1, at(time.Second))
	if n := c.ZCard(ctx, keys[0]).Val(); n != 3 {
		t.Errorf("window holds %d admissions after lower-limit checks, want 3", n)
	}
	l.Peek(context.Background(), "key:x", 2, at(2*time.Minute))
	if n := c.Exists(ctx, keys[0]).Val(); n != 0 {
		t.Errorf("window still exists after it emptied")
	}
	// Another prefix is another deployment: its own window.
	other := newStore(t, c, WithPrefix("p2:")).Limiter()
	l.Admit(context.Background(), "k", 1, t0)
	if !other.Admit(context.Background(), "k", 1, t0).Allowed {
		t.Error("prefixes share a window")
	}
}

// Two Stores on one Redis are two replicas: they see one window.
func TestLimiterReplicasShareWindow(t *testing.T) {
	r := startRedis(t)
	a := newStore(t, r.Client(t)).Limiter()
	b := newStore(t, r.Client(t)).Limiter()
	want := []Admission{
		{Allowed: true, Limit: 4, Remaining: 3, Reset: 60 * time.Second},
		{Allowed: true, Limit: 4, Remaining: 2, Reset: 59 * time.Second},
		{Allowed: true, Limit: 4, Remaining: 1, Reset: 58 * time.Second},
		{Allowed: true, Limit: 4, Remaining: 0, Reset: 57 * time.Second},
		{Limit: 4, Reset: 56 * time.Second, RetryAfter: 56 * time.Second},
		{Limit: 4, Reset: 55 * time.Second, RetryAfter: 55 * time.Second},
	}
	for i, w := range want {
		l := a
		if i%2 == 1 {
			l = b
		}
		if got := l.Admit(context.Background(), "shared", 4, at(time.Duration(i)*time.Second)); got != w {
			t.Fatalf("admission %d (replica %c): got %+v, want %+v", i, 'a'+i%2, got, w)
		}
	}
	// Same instant on both replicas: distinct members, both counted.
	if !a.Admit(context.Background(), "same", 2, t0).Allowed || !b.Admit(context.Background(), "same", 2, t0).Allowed {
		t.Fatal("admissions at the same instant on two replicas denied")
	}
	if got := a.Peek(context.Background(), "same", 2, t0); got.Allowed || got.Remaining != 0 {
		t.Errorf("after two admissions at one instant: %+v", got)
	}
}

// Many goroutines on two replicas admit exactly the limit per key.
func TestLimiterConcurrent(t *testing.T) {
	r := startRedis(t)
	replicas := []*Limiter{newStore(t, r.Client(t)).Limiter(), newStore(t, r.Client(t)).Limiter()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[string]int{}
	for g := range 16 {
		wg.Go(func() {
			l := replicas[g%2]
			for i := range 200 {
				key := fmt.Sprintf("k%d", i%4)
				now := at(time.Duration(g*200+i) * time.Microsecond)
				l.Peek(context.Background(), key, 100, now)
				if l.Admit(context.Background(), key, 100, now).Allowed {
					mu.Lock()
					allowed[key]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(allowed) != 4 {
		t.Errorf("admissions for %d keys, want 4", len(allowed))
	}
	for k, n := range allowed {
		if n != 100 {
			t.Errorf("%s: %d admitted, want exactly 100", k, n)
		}
	}
}

// Requests of one key limited to 20, half of them with rpm_cap 1, on two
// replicas at once: exactly 20 in the window, at most one of them under
// the cap (only into an empty window).
func TestLimiterConcurrentMixedLimits(t *testing.T) {
	r := startRedis(t)
	replicas := []*Limiter{newStore(t, r.Client(t)).Limiter(), newStore(t, r.Client(t)).Limiter()}
	statetest.ConcurrentMixedLimits(t, []statetest.Admitter{replicas[0], replicas[1]}, 8, 25, at(0))
	if n := r.Client(t).ZCard(context.Background(), "cpen:rpm:k").Val(); n != 20 {
		t.Errorf("window holds %d admissions, want 20", n)
	}
}

// EVALSHA falls back to EVAL when Redis has lost its script cache.
func TestLimiterScriptFlushed(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	var errs []string
	l := newStore(t, c, WithErrorHook(func(op string, err error) { errs = append(errs, op+": "+err.Error()) })).Limiter()
	l.Admit(context.Background(), "k", 3, t0)
	if err := c.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	want := Admission{Allowed: true, Limit: 3, Remaining: 1, Reset: 59 * time.Second}
	if got := l.Admit(context.Background(), "k", 3, at(time.Second)); got != want {
		t.Errorf("after SCRIPT FLUSH: got %+v, want %+v", got, want)
	}
	if len(errs) != 0 {
		t.Errorf("error hook called: %q", errs)
	}
}
