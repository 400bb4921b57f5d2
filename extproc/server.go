// Package extproc is the Envoy external-processing server: it authenticates
// each request, picks a route under the caller's price caps, rewrites what
// the provider sees and adds route metadata to what the caller gets back.
package extproc

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

// RouteHealth is the live state of the routes of one catalog version, by
// selector.Route.Index.
type RouteHealth interface {
	selector.Health
	Observe(route int, latency time.Duration, failed bool, now time.Time)
	AdmitRoute(route, rpmLimit int, now time.Time) bool
	// Advance moves the view's clock, so ejections end even when no
	// request reaches the ejected routes.
	Advance(now time.Time)
}

// HealthBinder gives a catalog version its route health. ids are the
// version's route ids by selector.Route.Index; prev is the health of the
// version in force, nil for the first. A route in both versions keeps its
// state (ejection, averages, provider RPM window) whatever its new index,
// so a reload never forgives a failing route; a route only in ids starts
// healthy. prev stays in use by requests that began under it.
type HealthBinder func(prev RouteHealth, ids []string) RouteHealth

type admission = state.Admission

// Option configures a Server.
type Option func(*options)

type options struct {
	now       func() time.Time
	pins      PinStore
	limiter   RateLimiter
	newHealth HealthBinder
	getenv    func(string) string
	readFile  func(string) ([]byte, error)
	// idleTimeout closes a stream with no message from Envoy for this long.
	idleTimeout time.Duration
}

// WithClock injects the clock (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithPins sets the continuity pin store.
func WithPins(p PinStore) Option { return func(o *options) { o.pins = p } }

// WithLimiter sets the per-key RPM limiter.
func WithLimiter(l RateLimiter) Option { return func(o *options) { o.limiter = l } }

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

// WithEnv sets where provider keys are read from (tests).
func WithEnv(getenv func(string) string, readFile func(string) ([]byte, error)) Option {
	return func(o *options) { o.getenv, o.readFile = getenv, readFile }
}

// Server implements Envoy's ExternalProcessor service.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	opts    options
	log     *zap.Logger
	rt      atomic.Pointer[runtime]
	metrics *Metrics
	// draining is set from SIGTERM on: the process reports not ready.
	draining atomic.Bool
	ready    readiness
	// msgLimit is the gRPC message limit fixed at start (0 before).
	msgLimit atomic.Int64
	workers  *workers
	// exchanges recycles per-stream state (about 10 KiB with its inline
	// answers); sync.Pool is per-P, not a global lock.
	exchanges sync.Pool
	endpoints endpoints
}

var _ extprocv3.ExternalProcessorServer = (*Server)(nil)

// NewServer builds a server with in-process state unless options say
// otherwise. It serves nothing until a catalog is applied.
func NewServer(log *zap.Logger, m *Metrics, opts ...Option) *Server {
	o := options{
		now:       time.Now,
		pins:      state.NewPins(),
		limiter:   state.NewLimiter(),
		newHealth: carryHealth,
		getenv:    os.Getenv,
		readFile:  os.ReadFile,

		idleTimeout: DefaultStreamIdleTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{opts: o, log: log, metrics: m, workers: newWorkers()}
	s.endpoints = s.newEndpoints()
	return s
}

// Ready reports whether a catalog is loaded, some tier can route and the
// process is not draining.
func (s *Server) Ready() bool {
	rt := s.rt.Load()
	return !s.draining.Load() && rt != nil && rt.canRoute(s.opts.now())
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

func (s *Server) newExchange() *exchange {
	if x, ok := s.exchanges.Get().(*exchange); ok {
		return x
	}
	return &exchange{ctx: context.Background(), srv: s, log: s.log}
}

// release ends the stream's processing and recycles its state.
func (s *Server) release(x *exchange) {
	x.finish()
	*x = exchange{ctx: context.Background(), srv: s, log: s.log, bufs: x.bufs.reset(), parked: x.parked}
	s.exchanges.Put(x)
}

// firstMessageTimeout bounds the wait for a stream's first message: Envoy
// opens a stream only when it has a message to send.
const firstMessageTimeout = 10 * time.Second

// Process serves one HTTP request's ext_proc stream. A stream that stays
// silent past the idle timeout (or past firstMessageTimeout before its
// first message) is closed: nothing else would ever end it.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	idle := time.NewTimer(min(firstMessageTimeout, s.opts.idleTimeout))
	defer idle.Stop()
	done := make(chan error, 1)
	// The exchange belongs to serve: after a timeout it still runs until
	// gRPC cancels the stream, which happens once Process returns.
	s.start(serveJob{stream: stream, idle: idle, done: done})
	select {
	case err := <-done:
		return err
	case <-idle.C:
		s.log.Warn("ext_proc stream idle; closing it", zap.Duration("idle_timeout", s.opts.idleTimeout))
		return status.Error(codes.DeadlineExceeded, "no message from Envoy within the stream idle timeout")
	}
}

// serve runs the receive loop of one stream, moving the idle deadline on
// with every message.
func (s *Server) serve(stream extprocv3.ExternalProcessor_ProcessServer, idle *time.Timer) error {
	ctx := stream.Context()
	x := s.newExchange()
	x.ctx = ctx
	defer s.release(x)
	for {
		req, err := stream.Recv()
		if err != nil {
			// Envoy resets the stream after its last expected answer.
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || ctx.Err() != nil {
				return nil
			}
			return status.Errorf(codes.Unknown, "receive: %v", err)
		}
		idle.Reset(s.opts.idleTimeout)
		resp, err := x.handle(req)
		if err != nil {
			x.log.Error("ext_proc exchange failed", zap.ByteString("request_id", x.requestID), zap.Error(err))
			return status.Errorf(codes.FailedPrecondition, "%v", err)
		}
		if err := stream.Send(resp); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
