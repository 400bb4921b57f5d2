package state

import (
	"context"
	"sync"
	"time"

	"github.com/cpen/router/selector"
)

// PinTTL is how long a continuity pin lives after its last Set.
const PinTTL = 24 * time.Hour

// Pins keeps continuity pins per (key, alias) in memory, in independently
// locked shards. Expired entries are dropped when read and, a few at a time,
// on writes to their shard.
type Pins struct {
	shards [numShards]pinShard
}

type pinKey struct{ key, alias string }

type pinEntry struct {
	pin     selector.Pin
	expires int64 // Unix nanoseconds
}

type pinShard struct {
	mu sync.Mutex
	m  map[pinKey]pinEntry
}

// NewPins returns an empty pin store.
func NewPins() *Pins {
	p := &Pins{}
	for i := range p.shards {
		p.shards[i].m = make(map[pinKey]pinEntry)
	}
	return p
}

// Get returns the pin for (key, alias) unless it is missing or expired.
func (p *Pins) Get(_ context.Context, key, alias string, now time.Time) (selector.Pin, bool) {
	s := &p.shards[shardOf(key, alias)]
	k := pinKey{key, alias}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok {
		return selector.Pin{}, false
	}
	if now.UnixNano() >= e.expires {
		delete(s.m, k)
		return selector.Pin{}, false
	}
	return e.pin, true
}

// Set stores or refreshes the pin for (key, alias) until now + PinTTL.
func (p *Pins) Set(_ context.Context, key, alias string, pin selector.Pin, now time.Time) {
	s := &p.shards[shardOf(key, alias)]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[pinKey{key, alias}] = pinEntry{pin: pin, expires: t + int64(PinTTL)}
	seen := 0
	for k, e := range s.m { // map order varies, so sweeps reach every entry over time
		if seen == sweepBudget {
			break
		}
		seen++
		if t >= e.expires {
			delete(s.m, k)
		}
	}
}

// Len counts stored entries, expired ones not yet dropped included.
func (p *Pins) Len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
