package redisstate

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultProbeInterval is how often a Store whose Redis failed lets one
// call through to see whether it is back.
const DefaultProbeInterval = time.Second

// errCircuitOpen answers a call made while Redis is known to fail and no
// probe is due: the call fails at once instead of waiting out a timeout.
var errCircuitOpen = errors.New("redisstate: redis is failing; calls wait for the next probe")

// breaker keeps a failing Redis from costing every request a timeout. The
// first failed call opens it; while open, calls fail at once, except one
// per probe interval, which goes to Redis: its success closes the breaker,
// its failure keeps it open for another interval. So an unreachable or
// hung Redis costs at most one timeout per interval, not one per request.
type breaker struct {
	interval time.Duration
	down     atomic.Bool
	probeAt  atomic.Int64 // Unix nanoseconds: the next probe may go from then
	// mu orders the transitions, so each is reported once and in order.
	mu       sync.Mutex
	onChange func(up bool, err error)
}

// allow reports whether a call may go to Redis now: always while Redis
// answers; while it fails, one caller per interval (the probe).
func (b *breaker) allow() bool {
	if !b.down.Load() {
		return true
	}
	now := time.Now().UnixNano()
	at := b.probeAt.Load()
	return now >= at && b.probeAt.CompareAndSwap(at, now+int64(b.interval))
}

// record takes the outcome of a call that went to Redis.
func (b *breaker) record(err error) {
	if (err == nil) != b.down.Load() {
		return // no change: up and answering, or down and still failing
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil && b.down.Load():
		b.down.Store(false)
		b.report(true, nil)
	case err != nil && !b.down.Load():
		b.probeAt.Store(time.Now().UnixNano() + int64(b.interval))
		b.down.Store(true)
		b.report(false, err)
	}
}

func (b *breaker) report(up bool, err error) {
	if b.onChange != nil {
		b.onChange(up, err)
	}
}

// Up reports whether Redis answered the last call that reached it.
func (s *Store) Up() bool { return !s.breaker.down.Load() }

// call runs one Redis operation f under the breaker and the Store's
// timeout. A failure goes to the error hook; a call the caller gave up on
// (its own context ended) says nothing about Redis and is not counted.
func (s *Store) call(parent context.Context, op string, f func(ctx context.Context) error) error {
	if !s.breaker.allow() {
		return errCircuitOpen
	}
	ctx, cancel := s.ctx(parent)
	defer cancel()
	err := f(ctx)
	if err != nil && parent.Err() != nil {
		return err
	}
	s.breaker.record(err)
	if err != nil {
		s.fail(op, err)
	}
	return err
}

// Ping checks that Redis answers, through the breaker like any call: a
// failure opens it, so a Redis down at start is known before the first
// request needs it.
func (s *Store) Ping(ctx context.Context) error {
	return s.call(ctx, "ping", func(ctx context.Context) error { return s.client.Ping(ctx).Err() })
}
