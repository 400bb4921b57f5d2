package stream

import (
	"context"
	"errors"
	"github.com/cpen/router/extproc/internal/envoytest"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Every test closes its servers: no serve worker may outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeStream plays Envoy's side of one stream.
type fakeStream = envoytest.Stream

// newTestServer is a transport whose every path is answered by the
// processors f makes.
func newTestServer(t *testing.T, f Factory) *Server {
	t.Helper()
	s := New(Config{Log: zap.NewNop(), Endpoints: Endpoints{}, NotFound: f, IdleTimeout: time.Minute})
	t.Cleanup(s.Close)
	return s
}

var (
	headers  = envoytest.Headers
	respBody = envoytest.RespBody
	reqBody  = envoytest.ReqBody
)

func respHeaders(status string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: headers(false, ":status", status)}}
}

// A message out of Envoy's order is a protocol error: a gRPC error, so
// Envoy fails the request closed.
func TestOutOfOrder(t *testing.T) {
	s := newTestServer(t, passThrough)
	f := &fakeStream{In: []*extprocv3.ProcessingRequest{reqBody(`{}`)}}
	err := s.Process(f)
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Fatalf("code %v (%v), want FailedPrecondition", got, err)
	}
	const want = "ext_proc message out of order: request_body in phase awaiting_headers"
	if got := status.Convert(err).Message(); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if len(f.Out) != 0 {
		t.Errorf("answered %d messages, want none", len(f.Out))
	}
}

// Envoy's own local reply can open a stream at the response: it passes.
func TestStreamStartingAtResponse(t *testing.T) {
	s := newTestServer(t, passThrough)
	f := &fakeStream{In: []*extprocv3.ProcessingRequest{respHeaders("503"), respBody("no healthy upstream")}}
	if err := s.Process(f); err != nil {
		t.Fatalf("Process: %v", err)
	}
	out := f.Out
	if len(out) != 2 || out[0].GetResponseHeaders() == nil || out[1].GetResponseBody() == nil {
		t.Fatalf("answers %v", out)
	}
	if out[0].GetResponseHeaders().GetResponse() != nil || out[1].GetResponseBody().GetResponse() != nil {
		t.Errorf("a pass-through answer carried changes: %v", out)
	}
}

// blockedStream is a stream on which Envoy never sends anything.
type blockedStream struct {
	fakeStream
	gone chan struct{}
}

func (b *blockedStream) Recv() (*extprocv3.ProcessingRequest, error) {
	<-b.gone
	return nil, context.Canceled
}

// A stream that never sends is closed after the idle timeout (gRPC then
// cancels it, which ends its receive).
func TestIdleStreamClosed(t *testing.T) {
	s := New(Config{Log: zap.NewNop(), NotFound: passThrough, IdleTimeout: 20 * time.Millisecond})
	t.Cleanup(s.Close)
	b := &blockedStream{gone: make(chan struct{})}
	defer close(b.gone)
	err := s.Process(b)
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "idle timeout") {
		t.Errorf("Process = %v, want DeadlineExceeded", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Error("the stream was not closed by the sidecar")
	}
}

// passThrough makes pass-through processors.
func passThrough(x *Exchange) Processor { return NewPassThrough(x) }
