package otlptest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func strAttr(key, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func request(service string, names ...string) *coltracepb.ExportTraceServiceRequest {
	spans := make([]*tracepb.Span, 0, len(names))
	for _, n := range names {
		spans = append(spans, &tracepb.Span{Name: n, Attributes: []*commonpb.KeyValue{strAttr("k", n)}})
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strAttr("service.name", service)}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}
}

func client(t *testing.T, r *Receiver) coltracepb.TraceServiceClient {
	t.Helper()
	addr, ok := strings.CutPrefix(r.Endpoint(), "http://")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("Endpoint() = %q, want http://127.0.0.1:port", r.Endpoint())
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return coltracepb.NewTraceServiceClient(conn)
}

func TestWaitWakesOnExport(t *testing.T) {
	r := Start(t)
	c := client(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type result struct {
		spans []*tracepb.Span
		err   error
	}
	got := make(chan result, 1)
	go func() {
		spans, err := r.Wait(ctx, 3)
		got <- result{spans, err}
	}()

	if _, err := c.Export(ctx, request("one", "a", "b")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Export(ctx, request("two", "c")); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.err != nil {
		t.Fatal(res.err)
	}
	var names []string
	for _, s := range res.spans {
		names = append(names, s.GetName())
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("span names = %v, want [a b c]", names)
	}
	v, ok := Attr(res.spans[1], "k")
	if !ok || v.GetStringValue() != "b" {
		t.Fatalf("Attr(b, k) = %v, %v; want b, true", v, ok)
	}
	if v, ok := Attr(res.spans[1], "missing"); ok || v != nil {
		t.Fatalf("Attr(b, missing) = %v, %v; want nil, false", v, ok)
	}

	rs := r.ResourceSpans()
	if len(rs) != 2 {
		t.Fatalf("ResourceSpans() has %d entries, want 2", len(rs))
	}
	for i, want := range []string{"one", "two"} {
		v, ok := ResourceAttr(rs[i].GetResource(), "service.name")
		if !ok || v.GetStringValue() != want {
			t.Fatalf("resource %d service.name = %v, %v; want %q", i, v, ok, want)
		}
	}
}

func TestWaitReturnsEverythingReceived(t *testing.T) {
	r := Start(t)
	c := client(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Export(ctx, request("svc", "a", "b")); err != nil {
		t.Fatal(err)
	}
	spans, err := r.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 {
		t.Fatalf("Wait(1) returned %d spans, want all 2 received", len(spans))
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	r := Start(t)
	c := client(t, r)
	if _, err := c.Export(context.Background(), request("svc", "a")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spans, err := r.Wait(ctx, 2)
	if !errors.Is(err, context.Canceled) || spans != nil {
		t.Fatalf("Wait(cancelled, 2) = %v, %v; want nil, context.Canceled", spans, err)
	}
}

func TestWaitZeroReturnsAtOnce(t *testing.T) {
	r := Start(t)
	spans, err := r.Wait(context.Background(), 0)
	if err != nil || len(spans) != 0 {
		t.Fatalf("Wait(0) = %v, %v; want no spans, nil", spans, err)
	}
}
