package stream

import (
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// maxIdleWorkers bounds the serve workers kept waiting between streams;
// past it a worker that finishes a stream ends, so a burst of streams does
// not leave its goroutines and their stacks behind.
const maxIdleWorkers = 64

// serveJob is one stream handed to a serve worker.
type serveJob struct {
	stream extprocv3.ExternalProcessor_ProcessServer
	idle   *time.Timer
	done   chan<- error
}

// workers run the receive loops of streams on long-lived goroutines.
// Process must stay free to give up on a silent stream, so the loop runs
// elsewhere; a worker's stack has already grown to what an exchange needs,
// where a fresh goroutine per stream would grow and copy its stack again
// every time.
type workers struct {
	jobs chan serveJob // unbuffered: a send succeeds only into a waiting worker
	idle atomic.Int32  // workers waiting for a job
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func newWorkers() *workers {
	return &workers{jobs: make(chan serveJob), stop: make(chan struct{})}
}

// start hands a stream to a waiting worker, or to a new one.
func (s *Server) start(j serveJob) {
	select {
	case s.workers.jobs <- j:
	default:
		s.workers.wg.Add(1)
		go s.worker(j)
	}
}

// worker serves streams until it is one idle worker too many or the
// server closes.
func (s *Server) worker(j serveJob) {
	w := s.workers
	defer w.wg.Done()
	for {
		j.done <- s.serve(j.stream, j.idle)
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		select {
		case j = <-w.jobs:
			w.idle.Add(-1)
		case <-w.stop:
			w.idle.Add(-1)
			return
		}
	}
}

// Close ends the idle serve workers and waits for every worker to end. Call
// it once no stream is open (after the gRPC server has stopped).
func (s *Server) Close() {
	s.workers.once.Do(func() { close(s.workers.stop) })
	s.workers.wg.Wait()
}
