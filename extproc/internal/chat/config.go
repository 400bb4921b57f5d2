package chat

import (
	"context"
	"time"

	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// PinStore keeps continuity pins per key and alias: the route the
// continuity strategy keeps serving while it fits. ctx is the stream's: a
// stream Envoy has given up on stops waiting for a remote store.
type PinStore interface {
	Get(ctx context.Context, key, alias string, now time.Time) (selector.Pin, bool)
	Set(ctx context.Context, key, alias string, p selector.Pin, now time.Time)
}

// RateLimiter counts admissions in a sliding 60-second window per key.
// ctx is the stream's, as for PinStore.
type RateLimiter interface {
	Admit(ctx context.Context, key string, limit int, now time.Time) state.Admission
	Peek(ctx context.Context, key string, limit int, now time.Time) state.Admission
}

// Config is what the chat endpoints share: the catalog version in force,
// the clock and the shared state. It is not changed once the endpoints are
// built.
type Config struct {
	Versions catalog.Source
	Now      func() time.Time
	Pins     PinStore
	Limiter  RateLimiter
}
