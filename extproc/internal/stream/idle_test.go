package stream

import (
	"context"
	"net"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// recordingServer notes whether gRPC's transport lets Process end a stream
// from aside, so the tests know which path they measured.
type recordingServer struct {
	*Server
	direct chan bool
}

func (r *recordingServer) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	_, ok := closerOf(stream)
	r.direct <- ok
	return r.Server.Process(stream)
}

// grpcClient serves s over an in-memory gRPC connection and returns a
// client of it.
func grpcClient(t *testing.T, s *Server) (extprocv3.ExternalProcessorClient, chan bool) {
	t.Helper()
	rec := &recordingServer{Server: s, direct: make(chan bool, 8)}
	return bufconnClient(t, s, rec), rec.direct
}

// bufconnClient serves impl, which serves through s, over an in-memory gRPC
// connection built with opts, and returns a client of it.
func bufconnClient(t *testing.T, s *Server, impl extprocv3.ExternalProcessorServer, opts ...grpc.ServerOption) extprocv3.ExternalProcessorClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(g, impl)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		g.Stop()
		<-served
		s.Close()
	})
	return extprocv3.NewExternalProcessorClient(conn)
}

// Over real gRPC, a stream gone silent after its first exchange is closed
// by the sidecar with DeadlineExceeded, from Process's own goroutine's
// receive: no goroutine runs beside the stream.
func TestIdleStreamClosedOverGRPC(t *testing.T) {
	s := New(Config{Log: zap.NewNop(), NotFound: passThrough, IdleTimeout: 50 * time.Millisecond})
	client, direct := grpcClient(t, s)
	st, err := client.Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(reqHeaders(":path", "/x", ":method", "GET")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("first answer: %v", err)
	}
	if !<-direct {
		t.Fatal("gRPC's server stream cannot be closed from aside: the idle timeout would need a goroutine per stream")
	}
	start := time.Now()
	_, err = st.Recv()
	if status.Code(err) != codes.DeadlineExceeded || status.Convert(err).Message() != "no message from Envoy within the stream idle timeout" {
		t.Fatalf("after silence: %v, want DeadlineExceeded and the idle message", err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("closed after %v, before the 50ms idle timeout", waited)
	}
}

// A stream that keeps talking is not closed, however long it lasts in all:
// the timeout is per silence, not per stream.
func TestBusyStreamNotClosedOverGRPC(t *testing.T) {
	s := New(Config{Log: zap.NewNop(), NotFound: passThrough, IdleTimeout: 300 * time.Millisecond})
	client, _ := grpcClient(t, s)
	st, err := client.Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*extprocv3.ProcessingRequest{
		reqHeaders(":path", "/x", ":method", "POST"),
		reqBody(`{}`), respHeaders("200"), respBody(`{}`),
	}
	for i, m := range msgs {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		// Envoy's pauses between messages: each under the timeout, together
		// past it.
		if i < len(msgs)-1 {
			time.Sleep(120 * time.Millisecond)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) == codes.DeadlineExceeded {
		t.Errorf("a talking stream was closed: %v", err)
	}
}

func reqHeaders(kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: headers(false, kv...)}}
}

// The watch's one-read clock agrees with time.Now: a reading falls between
// two of time.Now's, compared on the monotonic clock.
func TestIdleWatchNowFollowsTheClock(t *testing.T) {
	w := &idleWatch{origin: time.Now()}
	for range 1000 {
		before := time.Now()
		got := w.now()
		after := time.Now()
		if got.Before(before) || got.After(after) {
			t.Fatalf("now %v, not between %v and %v", got, before, after)
		}
	}
}
