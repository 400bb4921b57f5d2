package standin

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// readSize bounds one read, so large bodies arrive as several chunks the way
// Envoy's codec hands them over.
const readSize = 16 * 1024

type chunkEvent struct {
	data []byte
	eos  bool
	err  error
}

// chunkReader reads a body on its own goroutine so the handler can wait for
// body data and ext_proc answers at once. stop is the stop signal; the owner
// always calls it.
type chunkReader struct {
	ch        chan chunkEvent
	stopCh    chan struct{}
	done      chan struct{}
	interrupt func()
	once      sync.Once
	// failed: the owner received a read error (not the end of the body).
	failed atomic.Bool
}

// readChunks starts reading src. interrupt, if set, unblocks a pending Read
// when stop is called (for upstream bodies: cancel the upstream request).
func readChunks(src io.Reader, interrupt func()) *chunkReader {
	r := &chunkReader{
		ch:        make(chan chunkEvent),
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		interrupt: interrupt,
	}
	go r.run(src)
	return r
}

// staticChunks delivers a known body as one final chunk, like a local reply's
// single encodeData(body, end_stream=true).
func staticChunks(body []byte) *chunkReader {
	r := &chunkReader{
		ch:     make(chan chunkEvent, 1),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
	r.ch <- chunkEvent{data: body, eos: true}
	close(r.done)
	return r
}

func (r *chunkReader) run(src io.Reader) {
	defer close(r.done)
	buf := make([]byte, readSize)
	for {
		n, err := src.Read(buf)
		if n == 0 && err == nil {
			continue
		}
		ev := chunkEvent{data: bytes.Clone(buf[:n])}
		switch {
		case errors.Is(err, io.EOF):
			ev.eos = true
		case err != nil:
			ev.err = err
		}
		select {
		case r.ch <- ev:
			if ev.err != nil {
				r.failed.Store(true)
			}
		case <-r.stopCh:
			return
		}
		if err != nil {
			return
		}
	}
}

// sawError reports whether the owner was handed a read error; call it after
// stop, which waits for the reader to finish.
func (r *chunkReader) sawError() bool { return r.failed.Load() }

func (r *chunkReader) stop() {
	r.once.Do(func() {
		close(r.stopCh)
		if r.interrupt != nil {
			r.interrupt()
		}
	})
	<-r.done
}
