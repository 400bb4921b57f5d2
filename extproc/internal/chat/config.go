package chat

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/extproc/internal/tracing"
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

// CreditLedger keeps each account's credit. AdmitReserve is the RPM
// admission of a key with credit: the admission and the reservation of the
// request's worst case are one step, so concurrent requests cannot spend
// past the credit. An error means the ledger could not be reached: nothing
// is known, and the request is refused.
type CreditLedger interface {
	AdmitReserve(ctx context.Context, key string, limit int, h state.Hold, now time.Time) (state.Admission, state.Reservation, error)
	Settle(ctx context.Context, r state.Reservation, cost decimal.Decimal, now time.Time) error
	Renew(ctx context.Context, r state.Reservation, now time.Time) error
}

// Metrics counts what the chat path spends and refuses for credit.
type Metrics interface {
	// Spent adds an answer's cost in USD, by tier alias; a float, as
	// metrics are (the ledger keeps the exact figures).
	Spent(alias string, usd float64)
	// CreditRefused counts a request refused for credit.
	CreditRefused()
	// Reservations moves the gauge of this replica's open reservations.
	Reservations(delta int)
}

// Config is what the chat endpoints share: the catalog version in force,
// the clock and the shared state. It is not changed once the endpoints are
// built.
type Config struct {
	Versions catalog.Source
	Now      func() time.Time
	Pins     PinStore
	Limiter  RateLimiter
	// Ledger reserves and settles the credit of keys that have one. Keys
	// without credit never reach it.
	Ledger  CreditLedger
	Metrics Metrics
	// Buffers keeps large body buffers between requests; nil: none kept.
	Buffers *BigBuffers
	// Tracer exports a span per request; nil when tracing is off.
	Tracer *tracing.Tracer
	// ReservationTTL is the ledger's: a stream renews its reservation
	// when a third of it has passed, so a running stream never expires.
	ReservationTTL time.Duration
}
