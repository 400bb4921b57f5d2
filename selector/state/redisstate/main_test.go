package redisstate

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/test/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the injected clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// The interfaces the ext_proc server declares for this state
// (extproc.PinStore, extproc.RateLimiter).
type (
	pinStore interface {
		Get(ctx context.Context, key, alias string, now time.Time) (selector.Pin, bool)
		Set(ctx context.Context, key, alias string, p selector.Pin, now time.Time)
	}
	rateLimiter interface {
		Admit(ctx context.Context, key string, limit int, now time.Time) state.Admission
		Peek(ctx context.Context, key string, limit int, now time.Time) state.Admission
	}
)

var (
	_ pinStore    = (*Pins)(nil)
	_ rateLimiter = (*Limiter)(nil)
)

// newStore is New for tests that expect Redis to answer: a timeout that
// the race detector on a busy machine cannot reach (a call that times out
// after Redis ran it would take a slot and still be admitted fail-open),
// and any Redis error fails the test. Later options override these.
func newStore(t testing.TB, c redis.UniversalClient, opts ...Option) *Store {
	hook := func(op string, err error) { t.Errorf("Redis error in %s: %v", op, err) }
	return New(c, append([]Option{WithTimeout(10 * time.Second), WithErrorHook(hook)}, opts...)...)
}

// startRedis starts a real redis-server for one test.
func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }
