package stream

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Every test closes its servers: no serve worker may outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeStream plays Envoy's side of one stream: a scripted Recv queue and a
// captured Send slice.
type fakeStream struct {
	grpc.ServerStream
	in  []*extprocv3.ProcessingRequest
	out []*extprocv3.ProcessingResponse
}

var _ extprocv3.ExternalProcessor_ProcessServer = (*fakeStream)(nil)

func (f *fakeStream) Context() context.Context { return context.Background() }

func (f *fakeStream) Recv() (*extprocv3.ProcessingRequest, error) {
	if len(f.in) == 0 {
		return nil, io.EOF
	}
	r := f.in[0]
	f.in = f.in[1:]
	return r, nil
}

// Send keeps a copy: gRPC serialises an answer before Send returns, and the
// server reuses its answer storage afterwards.
func (f *fakeStream) Send(r *extprocv3.ProcessingResponse) error {
	f.out = append(f.out, proto.Clone(r).(*extprocv3.ProcessingResponse))
	return nil
}

// newTestServer is a transport whose every path is answered by the
// processors f makes.
func newTestServer(t *testing.T, f Factory) *Server {
	t.Helper()
	s := New(Config{Log: zap.NewNop(), Endpoints: Endpoints{}, NotFound: f, IdleTimeout: time.Minute})
	t.Cleanup(s.Close)
	return s
}

func headers(eos bool, kv ...string) *extprocv3.HttpHeaders {
	h := &corev3.HeaderMap{}
	for i := 0; i < len(kv); i += 2 {
		h.Headers = append(h.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocv3.HttpHeaders{Headers: h, EndOfStream: eos}
}

func respHeaders(status string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: headers(false, ":status", status)}}
}

func respBody(body string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}}}
}

func reqBody(body string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}}}
}

// A message out of Envoy's order is a protocol error: a gRPC error, so
// Envoy fails the request closed.
func TestOutOfOrder(t *testing.T) {
	s := newTestServer(t, passThrough)
	f := &fakeStream{in: []*extprocv3.ProcessingRequest{reqBody(`{}`)}}
	err := s.Process(f)
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Fatalf("code %v (%v), want FailedPrecondition", got, err)
	}
	const want = "ext_proc message out of order: request_body in phase awaiting_headers"
	if got := status.Convert(err).Message(); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if len(f.out) != 0 {
		t.Errorf("answered %d messages, want none", len(f.out))
	}
}

// Envoy's own local reply can open a stream at the response: it passes.
func TestStreamStartingAtResponse(t *testing.T) {
	s := newTestServer(t, passThrough)
	f := &fakeStream{in: []*extprocv3.ProcessingRequest{respHeaders("503"), respBody("no healthy upstream")}}
	if err := s.Process(f); err != nil {
		t.Fatalf("Process: %v", err)
	}
	out := f.out
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
