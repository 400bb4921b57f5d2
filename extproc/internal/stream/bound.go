package stream

import (
	"fmt"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MetricOverloaded is the cpen_requests_rejected_total label of a stream
// refused because the sidecar already serves its bound of streams.
const MetricOverloaded = "overloaded"

// overloadLogEvery is the shortest interval between two overload log
// lines: under overload every stream is refused, and one line per refusal
// would add disk load to a process that is already saturated.
const overloadLogEvery = time.Second

// Bound admits at most a fixed number of concurrent ext_proc streams. A
// stream past the bound is refused at once with ResourceExhausted rather
// than queued: Envoy fails the request with a 5xx straight away, where a
// queue would hold every waiting request's body in memory without limit.
type Bound struct {
	max     int64
	log     *zap.Logger
	metrics Metrics
	now     func() time.Time
	// inFlight counts the streams admitted and not yet ended, and
	// admitted all admitted so far. Every stream changes them twice, from
	// whichever core runs it: atomics on one line, not a channel's lock
	// and queue.
	inFlight atomic.Int64
	admitted atomic.Uint64
	// lastLog is when the last overload line was written (UnixNano), and
	// refused counts the refusals since then.
	lastLog atomic.Int64
	refused atomic.Int64
}

// NewBound admits at most max concurrent streams (none when max <= 0). m may
// be nil; now is the clock of the overload log (nil: time.Now).
func NewBound(max int, log *zap.Logger, m Metrics, now func() time.Time) *Bound {
	if now == nil {
		now = time.Now
	}
	return &Bound{max: int64(max), log: log, metrics: m, now: now}
}

// Max is the number of streams the bound admits at once.
func (b *Bound) Max() int { return int(b.max) }

// InFlight is the number of streams admitted and not yet ended.
func (b *Bound) InFlight() int { return int(b.inFlight.Load()) }

// Admitted is the number of streams admitted so far.
func (b *Bound) Admitted() uint64 { return b.admitted.Load() }

// acquire takes a slot without waiting; false when every slot is taken.
// The count only ever moves past a value below the bound, so no stream is
// refused while a slot is free, not even for an instant.
func (b *Bound) acquire() bool {
	for {
		n := b.inFlight.Load()
		if n >= b.max {
			return false
		}
		if b.inFlight.CompareAndSwap(n, n+1) {
			b.admitted.Add(1)
			return true
		}
	}
}

func (b *Bound) release() { b.inFlight.Add(-1) }

// Admit runs serve if a slot is free and releases the slot when serve
// returns; with every slot taken it returns ResourceExhausted at once.
func (b *Bound) Admit(serve func() error) error {
	if !b.acquire() {
		return b.refuse()
	}
	defer b.release()
	return serve()
}

// refuse counts a refused stream and builds its status.
func (b *Bound) refuse() error {
	if b.metrics != nil {
		b.metrics.Rejected(MetricOverloaded)
	}
	b.refused.Add(1)
	now := b.now().UnixNano()
	last := b.lastLog.Load()
	if now-last >= int64(overloadLogEvery) && b.lastLog.CompareAndSwap(last, now) {
		// Refusals that land between the Add and the Swap are counted in
		// the next line: the total over all lines stays exact.
		n := b.refused.Swap(0)
		b.log.Warn("ext_proc streams refused: the concurrent stream bound is reached",
			zap.Int("max_streams", b.Max()), zap.Int64("refused_since_last_log", n))
	}
	return status.Error(codes.ResourceExhausted, b.message())
}

// message names the bound, so that whoever reads Envoy's log or the
// refused stream's status knows which setting to raise.
func (b *Bound) message() string {
	return fmt.Sprintf("overloaded: %d concurrent ext_proc streams is the bound (--max-streams); stream refused", b.Max())
}

// StreamInterceptor bounds the ext_proc Process streams of a gRPC server;
// other streams (health watches) pass unbounded, so a probe still gets
// its answer while the sidecar is saturated.
func (b *Bound) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != extprocv3.ExternalProcessor_Process_FullMethodName {
			return handler(srv, ss)
		}
		return b.Admit(func() error { return handler(srv, ss) })
	}
}
