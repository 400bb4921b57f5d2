// Package stream is the ext_proc transport: the receive loop of each
// stream, the decoder of Envoy's messages, Envoy's phase order, the answer
// arena, header and body mutations, body limits and the one table that
// turns a client error into its reply. It knows no endpoint: a request's
// path picks a factory from Endpoints, and the processor it makes does the
// rest.
package stream

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Metrics records what the transport decides itself.
type Metrics interface {
	// Rejected counts one request refused with an error reply, under the
	// metric label of its cause.
	Rejected(code string)
	// Processed records the sidecar's own time on one message, from its
	// receipt to its answer's send, by phase; PhaseTotal is a request's
	// sum over its messages, recorded when its stream ends.
	Processed(p Phase, d time.Duration)
}

// Config is what a Server is built from.
type Config struct {
	Log     *zap.Logger
	Metrics Metrics // nil: nothing is counted
	// Endpoints picks the processor of a request by its path.
	Endpoints Endpoints
	// NotFound makes the processor of a path no endpoint serves.
	NotFound Factory
	// IdleTimeout closes a stream with no message from Envoy for this long.
	IdleTimeout time.Duration
	// OwnCodec says the gRPC server decodes with NewCodec's codec, which
	// can decode into an exchange's reused inbox; streams then receive
	// into it rather than into a new message each time.
	OwnCodec bool
}

// Server implements Envoy's ExternalProcessor service over the processors
// of its endpoints.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	cfg Config
	// aside counts the receive loops running on goroutines of their own.
	aside sync.WaitGroup
	// exchanges recycles per-stream state (about 10 KiB with its inline
	// answers); sync.Pool is per-P, not a global lock.
	exchanges sync.Pool
}

var _ extprocv3.ExternalProcessorServer = (*Server)(nil)

// New builds a server; it starts no goroutine until a stream arrives.
func New(cfg Config) *Server {
	return &Server{cfg: cfg}
}

// Exchange returns a recycled exchange, or a new one, for one stream whose
// context is ctx. Process does this for every stream; tests and benchmarks
// drive an exchange with Handle, without gRPC.
func (s *Server) Exchange(ctx context.Context) *Exchange {
	x, ok := s.exchanges.Get().(*Exchange)
	if !ok {
		x = &Exchange{srv: s, rp: new(Replies)}
	}
	x.ctx = ctx
	return x
}

// Release ends the stream's processing and recycles its state.
func (s *Server) Release(x *Exchange) {
	x.finish()
	if m := s.cfg.Metrics; m != nil && x.processing > 0 {
		m.Processed(PhaseTotal, x.processing)
	}
	if x.md != nil {
		x.md.reset()
	}
	x.rp.reset()
	if x.in != nil {
		x.in.reset()
	}
	*x = Exchange{ctx: context.Background(), srv: s, parked: x.parked, md: x.md, rp: x.rp, in: x.in}
	s.exchanges.Put(x)
}

// firstMessageTimeout bounds the wait for a stream's first message: Envoy
// opens a stream only when it has a message to send.
const firstMessageTimeout = 10 * time.Second

// Process serves one HTTP request's ext_proc stream on gRPC's goroutine. A
// stream that stays silent past the idle timeout (or past
// firstMessageTimeout before its first message) is closed: nothing else
// would ever end it.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	first := min(firstMessageTimeout, s.cfg.IdleTimeout)
	if closer, ok := closerOf(stream); ok {
		return s.serve(stream, watchIdle(closer, first, s.logIdle))
	}
	// Without a transport that can end the stream from aside, the loop runs
	// on a goroutine of its own so that Process can return, which ends the
	// stream; the loop then ends with its cancelled receive.
	c := &signalCloser{closed: make(chan struct{})}
	w := watchIdle(c, first, s.logIdle)
	done := make(chan error, 1)
	s.aside.Add(1)
	go func() {
		defer s.aside.Done()
		done <- s.serve(stream, w)
	}()
	select {
	case err := <-done:
		return err
	case <-c.closed:
		return c.status.Err()
	}
}

func (s *Server) logIdle() {
	s.cfg.Log.Warn("ext_proc stream idle; closing it", zap.Duration("idle_timeout", s.cfg.IdleTimeout))
}

// serve runs the receive loop of one stream, which w watches for silence.
func (s *Server) serve(stream extprocv3.ExternalProcessor_ProcessServer, w *idleWatch) error {
	defer w.end()
	ctx := stream.Context()
	x := s.Exchange(ctx)
	defer s.Release(x)
	if x.in == nil && s.cfg.OwnCodec {
		x.in = new(inbox)
	}
	for {
		req, err := x.receive(stream)
		if !w.received() {
			return errIdle.Err()
		}
		if err != nil {
			// Envoy resets the stream after its last expected answer.
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || ctx.Err() != nil {
				return nil
			}
			return status.Errorf(codes.Unknown, "receive: %v", err)
		}
		x.msgStart = w.now()
		resp, err := x.Handle(req)
		if err != nil {
			s.cfg.Log.Error("ext_proc exchange failed", zap.ByteString("request_id", x.requestID), zap.Error(err))
			return status.Errorf(codes.FailedPrecondition, "%v", err)
		}
		err = stream.Send(resp)
		sent := w.now()
		x.account(req, sent)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		w.receiving(s.cfg.IdleTimeout, sent)
	}
}

// receive returns the stream's next message, decoded into the exchange's
// inbox where the codec can, so that it is valid until the next receive.
func (x *Exchange) receive(stream extprocv3.ExternalProcessor_ProcessServer) (*extprocv3.ProcessingRequest, error) {
	if x.in == nil {
		return stream.Recv()
	}
	return &x.in.req, stream.RecvMsg(x.in)
}

// Close waits for the receive loops that run aside (see Process) to end.
// Call it once no stream is open (after the gRPC server has stopped).
func (s *Server) Close() { s.aside.Wait() }

// account adds the message just answered, sent at sent, to the request's
// processing time, and to its phase's histogram.
func (x *Exchange) account(req *extprocv3.ProcessingRequest, sent time.Time) {
	d := sent.Sub(x.msgStart)
	x.msgStart = time.Time{}
	x.processing += d
	if m := x.srv.cfg.Metrics; m != nil {
		m.Processed(phaseOf(req), d)
	}
}
