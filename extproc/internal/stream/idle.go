package stream

import (
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// statusWriter is the part of gRPC's server transport stream that ends a
// stream with a status at once, from any goroutine: it sends the status and
// cancels the stream's context, which ends a receive blocked on it.
type statusWriter interface {
	WriteStatus(*status.Status) error
}

// errIdle is the status of a stream closed for its silence.
var errIdle = status.New(codes.DeadlineExceeded, "no message from Envoy within the stream idle timeout")

// The states of an idleWatch.
const (
	watchBusy      uint32 = iota // a message is being processed
	watchReceiving               // waiting for Envoy's next message
	watchClosed                  // closed for its silence
	watchEnded                   // the receive loop is over
)

// idleWatch closes a stream that stays silent too long, while the stream's
// own goroutine waits in its receive: a timer checks now and then whether
// the wait has lasted too long, so a message costs two atomic stores and
// no timer operation, and no goroutine sits beside the stream.
type idleWatch struct {
	state   atomic.Uint32
	since   atomic.Int64 // when the receive in hand began, in ns from origin
	limit   atomic.Int64 // how long it may last, ns
	origin  time.Time
	closer  statusWriter
	timer   *time.Timer
	onClose func()
}

// watchIdle starts watching a stream that closer can end; the first
// receive may last first.
func watchIdle(closer statusWriter, first time.Duration, onClose func()) *idleWatch {
	w := &idleWatch{origin: time.Now(), closer: closer, onClose: onClose}
	w.receiving(first, w.origin)
	// Armed only once w.timer is set, which check reads.
	w.timer = time.AfterFunc(time.Duration(1<<62), w.check)
	w.timer.Reset(first)
	return w
}

// now is the current time read from the monotonic clock only, as an
// offset from the watch's origin: one clock read where time.Now takes two
// (wall and monotonic). Durations between its readings are exact; its
// wall clock does not follow steps of the system clock, which only log
// lines would show.
func (w *idleWatch) now() time.Time {
	return w.origin.Add(time.Since(w.origin))
}

// receiving marks the start, at now, of a receive that may last limit.
func (w *idleWatch) receiving(limit time.Duration, now time.Time) {
	w.limit.Store(int64(limit))
	w.since.Store(int64(now.Sub(w.origin)))
	w.state.Store(watchReceiving)
}

// received marks a message in hand; false when the stream was closed for
// its silence first, and the message must be dropped.
func (w *idleWatch) received() bool {
	return w.state.CompareAndSwap(watchReceiving, watchBusy)
}

// end stops the watch once the receive loop is over.
func (w *idleWatch) end() {
	w.state.Store(watchEnded)
	w.timer.Stop()
}

// check runs on the timer: it closes the stream when its receive has
// lasted past the limit, and otherwise looks again when it would.
func (w *idleWatch) check() {
	switch w.state.Load() {
	case watchReceiving:
		waited := time.Duration(int64(time.Since(w.origin)) - w.since.Load())
		limit := time.Duration(w.limit.Load())
		if waited < limit {
			w.rearm(limit - waited)
			return
		}
		if !w.state.CompareAndSwap(watchReceiving, watchClosed) {
			w.check() // a message came meanwhile
			return
		}
		w.onClose()
		_ = w.closer.WriteStatus(errIdle)
	case watchBusy:
		w.rearm(time.Duration(w.limit.Load()))
	}
}

// rearm sets the timer to look again after d, unless the loop ended
// meanwhile: end's Stop may have come before this Reset, and a timer left
// armed would keep the stream's state until it fired.
func (w *idleWatch) rearm(d time.Duration) {
	w.timer.Reset(d)
	if w.state.Load() == watchEnded {
		w.timer.Stop()
	}
}

// closerOf returns what can end a stream at once, if its transport
// offers it (gRPC's server transport does).
func closerOf(stream grpc.ServerStream) (statusWriter, bool) {
	c, ok := grpc.ServerTransportStreamFromContext(stream.Context()).(statusWriter)
	return c, ok
}

// signalCloser stands in for a transport that cannot end a stream from
// aside: the stream's loop then runs on a goroutine of its own, and Process
// returns the status once closed is closed.
type signalCloser struct {
	closed chan struct{}
	status *status.Status
}

func (c *signalCloser) WriteStatus(st *status.Status) error {
	c.status = st
	close(c.closed)
	return nil
}
