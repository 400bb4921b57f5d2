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
	if len(w.buf) != 4 || w.b != nil {
		t.Errorf("one admission: ring of %d slots, buckets %v; want 4 slots, no buckets", len(w.buf), w.b != nil)
	}
	for i := range 10 {
		l.Admit(context.Background(), "k", 3, at(time.Duration(i)*time.Millisecond))
	}
	if w.n != 3 || w.ne != 3 || len(w.buf) != 4 {
		t.Errorf("ring holds %d of %d slots with limit 3, want 3 of 4", w.ne, len(w.buf))
	}
	// An idle key is dropped when peeked after its window.
	if l.Peek(context.Background(), "k", 2, at(2*time.Minute)); l.Len() != 0 {
		t.Errorf("Len = %d after the window, want 0", l.Len())
	}
}

// A check with a lower limit leaves the window whole, and a higher one
// grows the ring past the lower limits it has seen, by doubling capped at
// its limit.
func TestLimiterRingKeepsEveryAdmission(t *testing.T) {
	l := NewLimiter()
	for i := range 3 {
		l.Admit(context.Background(), "k", 3, at(time.Duration(i)*time.Millisecond))
	}
	w := l.shards[shardOf("k")].m["k"]
	l.Admit(context.Background(), "k", 1, at(time.Second))
	l.Peek(context.Background(), "k", 2, at(time.Second))
	if w.n != 3 {
		t.Fatalf("window holds %d admissions after lower-limit checks, want 3", w.n)
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
		t.Errorf("window holds %d admissions, want %d", got, want)
	}
}

// A key admitted a million times within one window, at the largest
// limit, holds ExactTail exact times and at most 61 per-second counts,
// and answers exactly: Remaining 0 at the millionth, then a denial.
func TestLimiterMemoryBoundedAtMaxLimit(t *testing.T) {
	l := NewLimiter()
	const step = 50 * time.Microsecond // a million admissions over 50 s
	for i := range MaxLimit - 1 {
		if !l.Admit(context.Background(), "k", 5_000_000, at(time.Duration(i)*step)).Allowed {
			t.Fatalf("admission %d denied", i)
		}
	}
	last := at(time.Duration(MaxLimit-1) * step)
	// The oldest admission (t0) is counted in its second: it leaves at
	// t0 + 1 s + Window, rounded up to the end of its second.
	want := Admission{Allowed: true, Limit: MaxLimit, Remaining: 0, Reset: t0.Add(time.Second + Window).Sub(last)}
	if got := l.Admit(context.Background(), "k", 5_000_000, last); got != want {
		t.Errorf("millionth admission: got %+v, want %+v", got, want)
	}
	w := l.shards[shardOf("k")].m["k"]
	if w.n != MaxLimit || w.ne != ExactTail || len(w.buf) != ExactTail || w.b == nil || w.b.len != 50 {
		t.Fatalf("window: %d admissions, %d exact in %d slots, %d seconds; want %d, %d in %d, 50",
			w.n, w.ne, len(w.buf), w.b.len, MaxLimit, ExactTail, ExactTail)
	}
	got := l.Admit(context.Background(), "k", 5_000_000, last.Add(time.Millisecond))
	if got.Allowed || got.Remaining != 0 || got.RetryAfter != want.Reset-time.Millisecond {
		t.Errorf("admission past a million: got %+v, want a denial until the oldest second leaves", got)
	}
	// Admitting on at full rate for two more minutes keeps the bound: the
	// seconds span at most 61.
	for i := range 240 {
		now := last.Add(time.Duration(i) * 500 * time.Millisecond)
		for range 1000 {
			l.Admit(context.Background(), "k", 5_000_000, now)
		}
		if w.ne > ExactTail || w.b.len > 61 {
			t.Fatalf("at %v: %d exact times, %d seconds", now.Sub(t0), w.ne, w.b.len)
		}
	}
}

// Should the counted seconds outgrow their slots, the oldest count joins
// the next second, so its admissions leave later, never earlier.
func TestWindowBucketOverflowMergesForward(t *testing.T) {
	w := &window{}
	for s := range int64(bucketSlots + 1) {
		w.bucket(s)
		w.n++
	}
	b := w.b
	if b.len != bucketSlots || b.sec[b.head] != 1 || b.cnt[b.head] != 2 {
		t.Fatalf("after %d seconds: %d slots, oldest second %d with %d; want %d, 1 with 2",
			bucketSlots+1, b.len, b.sec[b.head], b.cnt[b.head], bucketSlots)
	}
	if got, want := w.exitAt(0), bucketExit(1); got != want {
		t.Errorf("first exit %d, want %d (second 1's)", got, want)
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
