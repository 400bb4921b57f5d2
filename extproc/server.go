// Package extproc is the Envoy external-processing sidecar: Main, its
// settings, the catalog versions it serves, its admin listener, metrics,
// shared state in Redis, and gRPC health. The request path lives in
// internal packages: stream (the transport), chat and local (the
// endpoints), catalog (the compiled catalog version they read).
package extproc

import (
	"os"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"

	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/extproc/internal/chat"
	"github.com/cpen/router/extproc/internal/local"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/internal/tracing"
	"github.com/cpen/router/selector/state"
)

// PinStore keeps continuity pins per key and alias.
type PinStore = chat.PinStore

// CreditLedger reserves and settles the credit of keys that have one.
type CreditLedger interface {
	chat.CreditLedger
	local.Ledger
}

// RateLimiter counts admissions in a sliding 60-second window per key.
type RateLimiter = chat.RateLimiter

// RouteHealth is the live state of the routes of one catalog version, by
// selector.Route.Index.
type RouteHealth = catalog.RouteHealth

// HealthBinder gives a catalog version its route health. ids are the
// version's route ids by selector.Route.Index; prev is the health of the
// version in force, nil for the first. A route in both versions keeps its
// state (ejection, averages, provider RPM window) whatever its new index,
// so a reload never forgives a failing route; a route only in ids starts
// healthy. prev stays in use by requests that began under it.
type HealthBinder func(prev RouteHealth, ids []string) RouteHealth

// Option configures a Server.
type Option func(*options)

type options struct {
	now     func() time.Time
	pins    PinStore
	limiter RateLimiter
	ledger  CreditLedger
	// reservationTTL is the in-process ledger's, and how often streams
	// renew their reservations (a third of it).
	reservationTTL time.Duration
	newHealth      HealthBinder
	getenv         func(string) string
	readFile       func(string) ([]byte, error)
	// idleTimeout closes a stream with no message from Envoy for this long.
	idleTimeout time.Duration
	// tracer exports a span per request; nil: tracing off.
	tracer *tracing.Tracer
	// ownCodec: the gRPC server decodes with the transport's codec, which
	// can reuse each stream's decoding structures.
	ownCodec bool
}

// WithClock injects the clock (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithPins sets the continuity pin store.
func WithPins(p PinStore) Option { return func(o *options) { o.pins = p } }

// WithLimiter sets the per-key RPM limiter.
func WithLimiter(l RateLimiter) Option { return func(o *options) { o.limiter = l } }

// WithLedger sets the credit ledger, which must take its RPM admissions
// in the limiter's windows (the Redis store's ledger and limiter do).
func WithLedger(l CreditLedger, ttl time.Duration) Option {
	return func(o *options) { o.ledger, o.reservationTTL = l, ttl }
}

// WithReservationTTL sets how long an unsettled reservation of the
// in-process ledger lives without renewal.
func WithReservationTTL(d time.Duration) Option { return func(o *options) { o.reservationTTL = d } }

// WithHealth sets how route health is carried from one catalog version to
// the next.
func WithHealth(bind HealthBinder) Option { return func(o *options) { o.newHealth = bind } }

// WithStreamIdleTimeout sets how long a stream may stay silent before it is
// closed.
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(o *options) { o.idleTimeout = d }
}

// DefaultStreamIdleTimeout is the idle timeout of a Server built without
// WithStreamIdleTimeout: twice Envoy's own stream idle timeout, so a
// stream Envoy still keeps is never closed first.
const DefaultStreamIdleTimeout = 10 * time.Minute

// WithTracer exports a span per chat or extraction request through t
// (nil: none).
func WithTracer(t *tracing.Tracer) Option { return func(o *options) { o.tracer = t } }

// WithEnv sets where provider keys are read from (tests).
func WithEnv(getenv func(string) string, readFile func(string) ([]byte, error)) Option {
	return func(o *options) { o.getenv, o.readFile = getenv, readFile }
}

// Server implements Envoy's ExternalProcessor service: the transport over
// the endpoints, serving the catalog version last applied.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	opts     options
	log      *zap.Logger
	versions atomic.Pointer[catalog.Version]
	metrics  *Metrics
	// draining is set from SIGTERM on: the process reports not ready.
	draining atomic.Bool
	// stateDown is set while the shared state (Redis) fails: the process
	// serves on, degraded, as its failure mode says.
	stateDown atomic.Bool
	ready     readiness
	// msgLimit is the gRPC message limit fixed at start (0 before).
	msgLimit atomic.Int64
	stream   *stream.Server
}

var _ extprocv3.ExternalProcessorServer = (*Server)(nil)

// NewServer builds a server with in-process state unless options say
// otherwise. It serves nothing until a catalog is applied.
func NewServer(log *zap.Logger, m *Metrics, opts ...Option) *Server {
	o := options{
		now:       time.Now,
		pins:      state.NewPins(),
		newHealth: carryHealth,
		getenv:    os.Getenv,
		readFile:  os.ReadFile,

		idleTimeout: DefaultStreamIdleTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.reservationTTL <= 0 {
		o.reservationTTL = state.ReservationTTL
	}
	if o.limiter == nil {
		l := state.NewLimiter()
		o.limiter = l
		if o.ledger == nil {
			o.ledger = state.NewLedger(l, state.WithReservationTTL(o.reservationTTL))
		}
	}
	if o.ledger == nil {
		// A limiter of its own and no ledger on it: keys with credit
		// cannot be admitted atomically, so they are refused.
		o.ledger = noLedger{}
	}
	s := &Server{opts: o, log: log, metrics: m}
	s.stream = s.newStream()
	if m != nil {
		m.reg.MustRegister(newRouteUp(&s.versions, o.now))
	}
	return s
}

// Process serves one HTTP request's ext_proc stream.
func (s *Server) Process(st extprocv3.ExternalProcessor_ProcessServer) error {
	return s.stream.Process(st)
}

// Close ends the idle serve workers and waits for every worker to end. Call
// it once no stream is open (after the gRPC server has stopped).
func (s *Server) Close() { s.stream.Close() }

// Ready reports whether a catalog is loaded, some tier can route and the
// process is not draining.
func (s *Server) Ready() bool {
	v := s.versions.Load()
	return !s.draining.Load() && v != nil && v.CanRoute(s.opts.now())
}

// StartDraining marks the process as shutting down: not ready from now on.
func (s *Server) StartDraining() {
	s.draining.Store(true)
	s.ready.signal()
}

// readinessChanged returns a channel closed at the next catalog applied or
// at the start of draining.
func (s *Server) readinessChanged() <-chan struct{} { return s.ready.wait() }

// Draining reports whether StartDraining was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// SetSharedStateDown records whether the shared state fails, for health
// and /readyz to report.
func (s *Server) SetSharedStateDown(down bool) {
	s.stateDown.Store(down)
	s.ready.signal()
}

// SharedStateDown reports whether the shared state fails.
func (s *Server) SharedStateDown() bool { return s.stateDown.Load() }
