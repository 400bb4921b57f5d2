package state

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLimiterWindow(t *testing.T) {
	type step struct {
		at    time.Duration
		peek  bool
		limit int
		want  Admission
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "admit up to the limit, deny, slide", steps: []step{
			{at: 0, limit: 3, want: Admission{Allowed: true, Limit: 3, Remaining: 2, Reset: 60 * time.Second}},
			{at: 10 * time.Second, limit: 3, want: Admission{Allowed: true, Limit: 3, Remaining: 1, Reset: 50 * time.Second}},
			{at: 20 * time.Second, limit: 3, want: Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: 40 * time.Second}},
			{at: 30 * time.Second, limit: 3, want: Admission{Limit: 3, Reset: 30 * time.Second, RetryAfter: 30 * time.Second}},
			{at: 59*time.Second + 999*time.Millisecond, limit: 3, want: Admission{Limit: 3, Reset: time.Millisecond, RetryAfter: time.Second}},
			{at: 60 * time.Second, limit: 3, want: Admission{Allowed: true, Limit: 3, Remaining: 0, Reset: 10 * time.Second}},
			{at: 60 * time.Second, limit: 3, want: Admission{Limit: 3, Reset: 10 * time.Second, RetryAfter: 10 * time.Second}},
			{at: 200 * time.Second, peek: true, limit: 3, want: Admission{Allowed: true, Limit: 3, Remaining: 3}},
		}},
		{name: "peek takes nothing", steps: []step{
			{at: 0, peek: true, limit: 1, want: Admission{Allowed: true, Limit: 1, Remaining: 1}},
			{at: 0, peek: true, limit: 1, want: Admission{Allowed: true, Limit: 1, Remaining: 1}},
			{at: time.Second, limit: 1, want: Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
			{at: 2 * time.Second, peek: true, limit: 1, want: Admission{Limit: 1, Reset: 59 * time.Second, RetryAfter: 59 * time.Second}},
			{at: 3 * time.Second, peek: true, limit: 2, want: Admission{Allowed: true, Limit: 2, Remaining: 1, Reset: 58 * time.Second}},
		}},
		{name: "denials take no slot", steps: []step{
			{at: 0, limit: 1, want: Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
			{at: time.Second, limit: 1, want: Admission{Limit: 1, Reset: 59 * time.Second, RetryAfter: 59 * time.Second}},
			{at: 2 * time.Second, limit: 1, want: Admission{Limit: 1, Reset: 58 * time.Second, RetryAfter: 58 * time.Second}},
			{at: 60 * time.Second, limit: 1, want: Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second}},
		}},
		{name: "a lower limit waits for enough admissions to leave", steps: []step{
			{at: 0, limit: 5, want: Admission{Allowed: true, Limit: 5, Remaining: 4, Reset: 60 * time.Second}},
			{at: 1 * time.Second, limit: 5, want: Admission{Allowed: true, Limit: 5, Remaining: 3, Reset: 59 * time.Second}},
			{at: 2 * time.Second, limit: 5, want: Admission{Allowed: true, Limit: 5, Remaining: 2, Reset: 58 * time.Second}},
			{at: 3 * time.Second, limit: 5, want: Admission{Allowed: true, Limit: 5, Remaining: 1, Reset: 57 * time.Second}},
			// 4 in the window, limit 2: retry when the 3rd oldest (t=2s) leaves.
			{at: 4 * time.Second, limit: 2, want: Admission{Limit: 2, Reset: 58 * time.Second, RetryAfter: 58 * time.Second}},
			{at: 62 * time.Second, limit: 2, want: Admission{Allowed: true, Limit: 2, Remaining: 0, Reset: time.Second}},
		}},
		{name: "no limit", steps: []step{
			{at: 0, limit: 0, want: Admission{Allowed: true}},
			{at: 0, limit: -1, want: Admission{Allowed: true}},
		}},
		{name: "limit is capped at a million", steps: []step{
			{at: 0, limit: 5_000_000, want: Admission{Allowed: true, Limit: 1_000_000, Remaining: 999_999, Reset: 60 * time.Second}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLimiter()
			for i, s := range tt.steps {
				var got Admission
				if s.peek {
					got = l.Peek("key", s.limit, at(s.at))
				} else {
					got = l.Admit("key", s.limit, at(s.at))
				}
				if got != s.want {
					t.Fatalf("step %d (t=%v peek=%v): got %+v, want %+v", i, s.at, s.peek, got, s.want)
				}
			}
		})
	}
}

func TestLimiterKeysAreSeparate(t *testing.T) {
	l := NewLimiter()
	if !l.Admit("a", 1, t0).Allowed || !l.Admit("b", 1, t0).Allowed {
		t.Fatal("first admissions denied")
	}
	if l.Admit("a", 1, t0).Allowed {
		t.Fatal("second admission for a allowed")
	}
}

func TestLimiterMemory(t *testing.T) {
	l := NewLimiter()
	l.Admit("k", 1_000_000, t0)
	w := l.shards[shardOf("k")].m["k"]
	if len(w.buf) != 4 {
		t.Errorf("ring allocated %d slots for one admission, want 4", len(w.buf))
	}
	for i := range 10 {
		l.Admit("k", 3, at(time.Duration(i)*time.Millisecond))
	}
	if w.n != 3 || len(w.buf) > 4 {
		t.Errorf("ring holds %d of %d slots with limit 3", w.n, len(w.buf))
	}
	l.Admit("k", 2, at(time.Second))
	if w.n > 2 {
		t.Errorf("ring holds %d entries with limit 2", w.n)
	}
	// An idle key is dropped when peeked after its window.
	if l.Peek("k", 2, at(2*time.Minute)); l.Len() != 0 {
		t.Errorf("Len = %d after the window, want 0", l.Len())
	}
}

func TestLimiterSweepsIdleKeys(t *testing.T) {
	l := NewLimiter()
	target := shardOf("live")
	inShard := 0
	for i := range 2000 {
		k := fmt.Sprintf("idle-%d", i)
		l.Admit(k, 10, t0)
		if shardOf(k) == target {
			inShard++
		}
	}
	before := l.Len()
	for i := range 500 {
		l.Admit("live", 1_000_000, at(2*time.Minute+time.Duration(i)))
	}
	if got, want := l.Len(), before-inShard+1; got != want {
		t.Errorf("Len = %d, want %d (the %d idle keys of the written shard swept)", got, want, inShard)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[string]int{}
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("k%d", i%4)
				now := at(time.Duration(g*200+i) * time.Microsecond)
				l.Peek(key, 100, now)
				if l.Admit(key, 100, now).Allowed {
					mu.Lock()
					allowed[key]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for k, n := range allowed {
		if n != 100 {
			t.Errorf("%s: %d admitted, want exactly 100", k, n)
		}
	}
}
