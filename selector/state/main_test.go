package state

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cpen/router/selector"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the injected clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// The interfaces the ext_proc server declares for this state.
type (
	pinStore interface {
		Get(ctx context.Context, key, alias string, now time.Time) (selector.Pin, bool)
		Set(ctx context.Context, key, alias string, p selector.Pin, now time.Time)
	}
	rateLimiter interface {
		Admit(ctx context.Context, key string, limit int, now time.Time) Admission
		Peek(ctx context.Context, key string, limit int, now time.Time) Admission
	}
	routeHealth interface {
		selector.Health
		Observe(route int, latency time.Duration, failed bool, now time.Time) Transition
		ObserveFailure(route int, latency, retryAfter time.Duration, now time.Time) Transition
		DownUntil(route int) time.Time
		AdmitRoute(route, rpmLimit int, now time.Time) bool
	}
)

var (
	_ pinStore    = (*Pins)(nil)
	_ rateLimiter = (*Limiter)(nil)
	_ routeHealth = (*Health)(nil)
)
