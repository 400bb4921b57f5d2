package standin

import (
	"context"
	"fmt"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// msgKind names a ProcessingRequest type and the answer it requires.
type msgKind int

const (
	kindNone msgKind = iota
	kindRequestHeaders
	kindRequestBody
	kindResponseHeaders
	kindResponseBody
	kindRequestTrailers
	kindResponseTrailers
)

func (k msgKind) String() string {
	switch k {
	case kindRequestHeaders:
		return "request_headers"
	case kindRequestBody:
		return "request_body"
	case kindResponseHeaders:
		return "response_headers"
	case kindResponseBody:
		return "response_body"
	case kindRequestTrailers:
		return "request_trailers"
	case kindResponseTrailers:
		return "response_trailers"
	}
	return "none"
}

type recvItem struct {
	resp *extprocv3.ProcessingResponse
	err  error
}

// sidestream is one ext_proc Process stream. The request handler owns it and
// is the only sender; one goroutine receives and hands messages over on recv
// until the stream ends or close is called.
type sidestream struct {
	stream extprocv3.ExternalProcessor_ProcessClient
	cancel context.CancelFunc
	recv   chan recvItem
	done   chan struct{}
}

func openSidestream(ctx context.Context, client extprocv3.ExternalProcessorClient) (*sidestream, error) {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := client.Process(sctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open ext_proc stream: %w", err)
	}
	s := &sidestream{stream: stream, cancel: cancel, recv: make(chan recvItem), done: make(chan struct{})}
	go s.receive(sctx)
	return s, nil
}

func (s *sidestream) receive(ctx context.Context) {
	defer close(s.done)
	for {
		resp, err := s.stream.Recv()
		select {
		case s.recv <- recvItem{resp: resp, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// close resets the stream like Envoy's closeStream (ext_proc_graceful_grpc_close
// is off): the server's Recv sees codes.Canceled.
func (s *sidestream) close() {
	s.cancel()
	<-s.done
}

// request reports whether k belongs to the request (decoding) direction.
func (k msgKind) request() bool {
	return k == kindRequestHeaders || k == kindRequestBody || k == kindRequestTrailers
}
