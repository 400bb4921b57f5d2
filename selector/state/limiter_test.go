package state

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

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
