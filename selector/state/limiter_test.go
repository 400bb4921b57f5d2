package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLimiterKeysAreSeparate(t *testing.T) {
	l := NewLimiter()
	if !l.Admit(context.Background(), "a", 1, t0).Allowed || !l.Admit(context.Background(), "b", 1, t0).Allowed {
		t.Fatal("first admissions denied")
	}
	if l.Admit(context.Background(), "a", 1, t0).Allowed {
		t.Fatal("second admission for a allowed")
	}
}

func TestLimiterMemory(t *testing.T) {
	l := NewLimiter()
	l.Admit(context.Background(), "k", 1_000_000, t0)
	w := l.shards[shardOf("k")].m["k"]
	if len(w.buf) != 4 {
		t.Errorf("ring allocated %d slots for one admission, want 4", len(w.buf))
	}
	for i := range 10 {
		l.Admit(context.Background(), "k", 3, at(time.Duration(i)*time.Millisecond))
	}
	if w.n != 3 || len(w.buf) != 4 {
		t.Errorf("ring holds %d of %d slots with limit 3, want 3 of 4", w.n, len(w.buf))
	}
	// An idle key is dropped when peeked after its window.
	if l.Peek(context.Background(), "k", 2, at(2*time.Minute)); l.Len() != 0 {
		t.Errorf("Len = %d after the window, want 0", l.Len())
	}
}

// A check with a lower limit leaves the ring whole, and a higher one grows
// it past the lower limits it has seen, by doubling capped at its limit.
func TestLimiterRingKeepsEveryAdmission(t *testing.T) {
	l := NewLimiter()
	for i := range 3 {
		l.Admit(context.Background(), "k", 3, at(time.Duration(i)*time.Millisecond))
	}
	w := l.shards[shardOf("k")].m["k"]
	l.Admit(context.Background(), "k", 1, at(time.Second))
	l.Peek(context.Background(), "k", 2, at(time.Second))
	if w.n != 3 {
		t.Fatalf("ring holds %d admissions after lower-limit checks, want 3", w.n)
	}
	var sizes []int
	for i := range 10 {
		if !l.Admit(context.Background(), "k", 10, at(time.Second+time.Duration(i))).Allowed {
			if i != 7 {
				t.Fatalf("admission %d under limit 10 denied, want the 8th (11th of the key) denied", i)
			}
			break
		}
		sizes = append(sizes, len(w.buf))
	}
	if want := []int{6, 6, 6, 10, 10, 10, 10}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("ring sizes %v, want %v", sizes, want)
	}
	if got, want := w.n, 10; got != want {
		t.Errorf("ring holds %d admissions, want %d", got, want)
	}
}

// The ring of the largest limit grows to exactly a million slots, not to
// the next doubling, and one more admission is denied. The ring is filled
// directly: a million Admit calls would take seconds under the race
// detector.
func TestLimiterRingBoundedAtMaxLimit(t *testing.T) {
	l := NewLimiter()
	const doubled = 1 << 19 // the last doubling below a million: 4 << 17
	w := &window{buf: make([]int64, doubled), n: doubled}
	for i := range w.buf {
		w.buf[i] = at(time.Duration(i)).UnixNano()
	}
	l.shards[shardOf("k")].m["k"] = w
	if !l.Admit(context.Background(), "k", 5_000_000, at(doubled)).Allowed {
		t.Fatalf("admission %d denied", doubled)
	}
	if len(w.buf) != MaxLimit {
		t.Fatalf("ring grew to %d slots, want %d", len(w.buf), MaxLimit)
	}
	for w.n < MaxLimit-1 {
		w.buf[w.n] = at(time.Duration(w.n)).UnixNano()
		w.n++
	}
	want := Admission{Allowed: true, Limit: MaxLimit, Remaining: 0, Reset: Window - (MaxLimit - 1)}
	if got := l.Admit(context.Background(), "k", 5_000_000, at(MaxLimit-1)); got != want {
		t.Errorf("millionth admission: got %+v, want %+v", got, want)
	}
	want = Admission{Limit: MaxLimit, Reset: Window - MaxLimit, RetryAfter: Window - MaxLimit}
	if got := l.Admit(context.Background(), "k", 5_000_000, at(MaxLimit)); got != want {
		t.Errorf("admission past a million: got %+v, want %+v", got, want)
	}
	if w.n != MaxLimit || len(w.buf) != MaxLimit {
		t.Errorf("ring holds %d of %d slots, want %d of %d", w.n, len(w.buf), MaxLimit, MaxLimit)
	}
}

func TestLimiterSweepsIdleKeys(t *testing.T) {
	l := NewLimiter()
	target := shardOf("live")
	inShard := 0
	for i := range 2000 {
		k := fmt.Sprintf("idle-%d", i)
		l.Admit(context.Background(), k, 10, t0)
		if shardOf(k) == target {
			inShard++
		}
	}
	before := l.Len()
	for i := range 500 {
		l.Admit(context.Background(), "live", 1_000_000, at(2*time.Minute+time.Duration(i)))
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
	for k, n := range allowed {
		if n != 100 {
			t.Errorf("%s: %d admitted, want exactly 100", k, n)
		}
	}
}
