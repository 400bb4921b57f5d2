package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultHealthRefresh is how often Run reads the ejections other replicas
// shared: a route another replica ejected is avoided here within about
// this long, and Redis sees one pipelined read per interval per process,
// never one per request.
const DefaultHealthRefresh = time.Second

// HealthTarget is the route health that shared ejections land on:
// *state.Health is one.
type HealthTarget interface {
	RouteIDs() []string
	Eject(routeID string, until time.Time, backoff time.Duration)
}

// SharedHealth shares route ejections between the replicas on one Redis
// and prefix. Each is one string key per route id (see Store):
//
//	p + "health:" + route id   "until|backoff", both in milliseconds
//
// with until Unix milliseconds; the key expires when the ejection ends.
// A write never shortens an ejection another replica stored.
//
// Publish, the hook for state.Health.OnEject, only queues: Run, on a
// goroutine its caller owns, writes what was queued and reads others'
// ejections every refresh interval, so a request never waits on Redis
// for route health. Redis errors go to the Store's error hook (ops
// "health.write", "health.read") and change nothing else.
type SharedHealth struct {
	s      *Store
	now    func() time.Time
	script *redis.Script

	mu      sync.Mutex
	pending map[string]shared // by route id; the latest ejection of each
	wake    chan struct{}     // size 1: Run has writes to make
}

type shared struct {
	until   time.Time
	backoff time.Duration
}

// healthScript stores an ejection unless the stored one ends no earlier.
// KEYS[1] the route's key; ARGV: until (Unix ms), backoff (ms), TTL (ms).
const healthScript = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local u = tonumber(string.match(cur, '^(%d+)|'))
  if u and u >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
`

// NewSharedHealth returns the route health sharing of s, reading time from
// now. A process needs one.
func NewSharedHealth(s *Store, now func() time.Time) *SharedHealth {
	return &SharedHealth{s: s, now: now, script: redis.NewScript(healthScript),
		pending: make(map[string]shared), wake: make(chan struct{}, 1)}
}

// Publish queues an ejection for Run to write; it never blocks. Its
// signature is state.EjectHook's.
func (h *SharedHealth) Publish(routeID string, until time.Time, backoff time.Duration) {
	h.mu.Lock()
	if cur, ok := h.pending[routeID]; !ok || until.After(cur.until) {
		h.pending[routeID] = shared{until: until, backoff: backoff}
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run writes queued ejections as they come and reads the shared ones into
// target() every refresh (DefaultHealthRefresh if not positive), until ctx
// ends. target gives the health of the catalog version in force; nil
// skips a read.
func (h *SharedHealth) Run(ctx context.Context, target func() HealthTarget, refresh time.Duration) {
	if refresh <= 0 {
		refresh = DefaultHealthRefresh
	}
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
			h.Flush(ctx)
		case <-tick.C:
			if t := target(); t != nil {
				h.Refresh(ctx, t)
			}
		}
	}
}

// Flush writes the queued ejections now. An ejection whose write fails is
// dropped: the replica that saw the failure still applies it, and the
// route's next failure is published again.
func (h *SharedHealth) Flush(ctx context.Context) {
	h.mu.Lock()
	batch := h.pending
	if len(batch) > 0 {
		h.pending = make(map[string]shared, len(batch))
	}
	h.mu.Unlock()
	now := h.now()
	for id, e := range batch {
		ttl := e.until.Sub(now).Milliseconds()
		if ttl <= 0 {
			continue // over already: nothing to share
		}
		_ = h.s.call(ctx, "health.write", func(ctx context.Context) error {
			return h.script.Run(ctx, h.s.client, []string{h.s.healthKey(id)},
				e.until.UnixMilli(), e.backoff.Milliseconds(), ttl).Err()
		})
	}
}

// Refresh reads the shared ejection of every route target tracks, in one
// pipeline, and applies those not over yet.
func (h *SharedHealth) Refresh(ctx context.Context, target HealthTarget) {
	ids := target.RouteIDs()
	if len(ids) == 0 {
		return
	}
	var cmds []*redis.StringCmd
	err := h.s.call(ctx, "health.read", func(ctx context.Context) error {
		pipe := h.s.client.Pipeline()
		cmds = make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.Get(ctx, h.s.healthKey(id))
		}
		_, err := pipe.Exec(ctx)
		if errors.Is(err, redis.Nil) {
			err = nil // a route nobody ejected
		}
		return err
	})
	if err != nil {
		return
	}
	now := h.now()
	for i, c := range cmds {
		v, err := c.Result()
		if err != nil {
			continue // missing: the pipeline's error said the rest
		}
		e, err := decodeHealth(v)
		if err != nil {
			h.s.fail("health.read", err)
			continue
		}
		if e.until.After(now) {
			target.Eject(ids[i], e.until, e.backoff)
		}
	}
}

// errBadHealth is an ejection value that is not "until|backoff".
var errBadHealth = errors.New("redisstate: malformed route health value")

func decodeHealth(v string) (shared, error) {
	u, b, ok := strings.Cut(v, "|")
	until, err1 := strconv.ParseInt(u, 10, 64)
	backoff, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || backoff < 0 {
		return shared{}, fmt.Errorf("%w: %q", errBadHealth, v)
	}
	return shared{until: time.UnixMilli(until), backoff: time.Duration(backoff) * time.Millisecond}, nil
}

func (s *Store) healthKey(routeID string) string {
	return s.opts.prefix + "health:" + escape(routeID)
}
