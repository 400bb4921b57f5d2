// Package otlptest runs an in-process OTLP/gRPC trace receiver for tests:
// it listens on a free loopback port, keeps every span it is sent and
// stops when the test ends.
package otlptest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	// Registers the gzip compressor, so exporters configured with
	// OTEL_EXPORTER_OTLP_COMPRESSION=gzip are accepted as a collector would.
	_ "google.golang.org/grpc/encoding/gzip"
)

// Receiver is an OTLP trace receiver started for one test.
type Receiver struct {
	addr string

	mu        sync.Mutex
	resources []*tracepb.ResourceSpans // every ResourceSpans received, in order
	spans     []*tracepb.Span          // every span received, in order
	// arrived is closed and replaced on every export, waking all waiters.
	arrived chan struct{}
}

// Start starts a Receiver on 127.0.0.1 and a free port and stops it when
// the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: listen: %v", err)
	}
	r := &Receiver{addr: lis.Addr().String(), arrived: make(chan struct{})}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, traceService{r: r})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		// Serve reports ErrServerStopped when Stop wins the race with its
		// start, which is an orderly stop all the same.
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("otlptest: serve: %v", err)
		}
	})
	return r
}

// Endpoint is the receiver's address as an OTLP endpoint URL. The http
// scheme tells OpenTelemetry exporters to dial it without TLS.
func (r *Receiver) Endpoint() string { return "http://" + r.addr }

// Wait blocks until at least n spans have arrived and returns every span
// received so far, in arrival order, or returns ctx's error first.
func (r *Receiver) Wait(ctx context.Context, n int) ([]*tracepb.Span, error) {
	for {
		r.mu.Lock()
		if len(r.spans) >= n {
			spans := append([]*tracepb.Span(nil), r.spans...)
			r.mu.Unlock()
			return spans, nil
		}
		arrived := r.arrived
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-arrived:
		}
	}
}

// ResourceSpans returns every ResourceSpans received so far, in arrival
// order, for assertions on the resource and the instrumentation scope.
func (r *Receiver) ResourceSpans() []*tracepb.ResourceSpans {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.ResourceSpans(nil), r.resources...)
}

func (r *Receiver) add(req *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		r.resources = append(r.resources, rs)
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	close(r.arrived)
	r.arrived = make(chan struct{})
}

// traceService is the collector's trace service; it keeps the gRPC method
// off Receiver's own API.
type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	r *Receiver
}

var _ coltracepb.TraceServiceServer = traceService{}

func (s traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.r.add(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}
