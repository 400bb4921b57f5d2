package tracing

import (
	"bytes"
	"context"
	"encoding/hex"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cpen/router/test/otlptest"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap/zaptest"
)

const (
	parentTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + parentTraceID + "-" + parentSpanID + "-01"
)

var (
	spanStart = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	spanEnd   = spanStart.Add(1500 * time.Millisecond)
)

// clearOTelEnv removes every OTEL_* variable from the process environment
// for the test, since the SDK reads its settings from there, then applies
// env. t.Setenv restores the original values afterwards.
func clearOTelEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "")
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// exported starts a receiver and a Tracer pointed at it through the process
// environment, runs record with the Tracer, shuts the Tracer down (which
// flushes every ended span) and returns what the receiver holds.
func exported(t *testing.T, env map[string]string, record func(*Tracer)) *otlptest.Receiver {
	t.Helper()
	recv := otlptest.Start(t)
	all := map[string]string{envEndpoint: recv.Endpoint()}
	maps.Copy(all, env)
	clearOTelEnv(t, all)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := FromEnv(ctx, os.Getenv, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("FromEnv() error = %v", err)
	}
	if tr == nil {
		t.Fatal("FromEnv() = nil, want a Tracer with the endpoint set")
	}
	record(tr)
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	return recv
}

// onlySpan returns the one span the receiver got, failing otherwise.
func onlySpan(t *testing.T, recv *otlptest.Receiver) *tracepb.Span {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spans, err := recv.Wait(ctx, 1)
	if err != nil {
		t.Fatalf("waiting for a span: %v", err)
	}
	if len(spans) != 1 {
		t.Fatalf("receiver got %d spans, want exactly 1", len(spans))
	}
	return spans[0]
}

// attrs flattens span attributes to Go values: strings as string, ints as
// int64; any other type fails the test.
func attrs(t *testing.T, kvs []*commonpb.KeyValue) map[string]any {
	t.Helper()
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.GetKey()] = v.IntValue
		default:
			t.Fatalf("attribute %s has unexpected type %T", kv.GetKey(), v)
		}
	}
	return out
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSpanExported(t *testing.T) {
	recv := exported(t, nil, func(tr *Tracer) {
		s := tr.Start([]byte(traceparent), []byte("congo=t61rcWkgMzE"), "chat", "cpen/middle", spanStart)
		s.SetRoute("middle-a", "cheapest", "under_cap")
		s.SetUsage(42, 18)
		s.SetCost("0.000006")
		s.SetStatus(200)
		s.End(spanEnd)
	})
	span := onlySpan(t, recv)

	if span.GetName() != "chat cpen/middle" {
		t.Errorf("name = %q, want %q", span.GetName(), "chat cpen/middle")
	}
	if span.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("kind = %v, want SERVER", span.GetKind())
	}
	if !bytes.Equal(span.GetTraceId(), mustHex(t, parentTraceID)) {
		t.Errorf("trace id = %x, want %s", span.GetTraceId(), parentTraceID)
	}
	if !bytes.Equal(span.GetParentSpanId(), mustHex(t, parentSpanID)) {
		t.Errorf("parent span id = %x, want %s", span.GetParentSpanId(), parentSpanID)
	}
	if span.GetTraceState() != "congo=t61rcWkgMzE" {
		t.Errorf("trace state = %q, want %q", span.GetTraceState(), "congo=t61rcWkgMzE")
	}
	if got, want := span.GetStartTimeUnixNano(), uint64(spanStart.UnixNano()); got != want {
		t.Errorf("start = %d, want %d", got, want)
	}
	if got, want := span.GetEndTimeUnixNano(), uint64(spanEnd.UnixNano()); got != want {
		t.Errorf("end = %d, want %d", got, want)
	}
	if span.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_UNSET {
		t.Errorf("status = %v, want UNSET for a 200", span.GetStatus())
	}
	want := map[string]any{
		"gen_ai.operation.name":      "chat",
		"gen_ai.request.model":       "cpen/middle",
		"cpen.route_id":              "middle-a",
		"cpen.strategy":              "cheapest",
		"cpen.reason_code":           "under_cap",
		"gen_ai.usage.input_tokens":  int64(42),
		"gen_ai.usage.output_tokens": int64(18),
		"cpen.cost_usd":              "0.000006",
		"http.response.status_code":  int64(200),
	}
	if got := attrs(t, span.GetAttributes()); !maps.Equal(got, want) {
		t.Errorf("attributes =\n%v\nwant\n%v", got, want)
	}

	rs := recv.ResourceSpans()
	if len(rs) != 1 {
		t.Fatalf("got %d resource spans, want 1", len(rs))
	}
	if v, ok := otlptest.ResourceAttr(rs[0].GetResource(), "service.name"); !ok || v.GetStringValue() != defaultServiceName {
		t.Errorf("resource service.name = %v, %v; want %q", v, ok, defaultServiceName)
	}
	if scope := rs[0].GetScopeSpans()[0].GetScope().GetName(); scope != scopeName {
		t.Errorf("scope = %q, want %q", scope, scopeName)
	}
}

func TestServiceNameFromEnv(t *testing.T) {
	recv := exported(t, map[string]string{"OTEL_SERVICE_NAME": "router-eu"}, func(tr *Tracer) {
		tr.Start(nil, nil, "chat", "cpen/middle", spanStart).End(spanEnd)
	})
	onlySpan(t, recv)
	res := recv.ResourceSpans()[0].GetResource()
	if v, ok := otlptest.ResourceAttr(res, "service.name"); !ok || v.GetStringValue() != "router-eu" {
		t.Errorf("resource service.name = %v, %v; want %q", v, ok, "router-eu")
	}
}

func TestInvalidParentStartsRoot(t *testing.T) {
	tests := []struct {
		name        string
		traceparent string
	}{
		{name: "empty", traceparent: ""},
		{name: "garbage", traceparent: "not-a-traceparent"},
		{name: "zero trace id", traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		{name: "short span id", traceparent: "00-" + parentTraceID + "-00f067aa-01"},
		{name: "version ff", traceparent: "ff-" + parentTraceID + "-" + parentSpanID + "-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv := exported(t, nil, func(tr *Tracer) {
				tr.Start([]byte(tt.traceparent), []byte("congo=t61rcWkgMzE"), "chat", "cpen/middle", spanStart).End(spanEnd)
			})
			span := onlySpan(t, recv)
			if len(span.GetParentSpanId()) != 0 {
				t.Errorf("parent span id = %x, want none", span.GetParentSpanId())
			}
			if len(span.GetTraceId()) != 16 || bytes.Equal(span.GetTraceId(), make([]byte, 16)) {
				t.Errorf("trace id = %x, want a fresh non-zero id", span.GetTraceId())
			}
			if bytes.Equal(span.GetTraceId(), mustHex(t, parentTraceID)) {
				t.Errorf("trace id = %x, want a new trace, not the invalid parent's", span.GetTraceId())
			}
			if span.GetTraceState() != "" {
				t.Errorf("trace state = %q, want none without a valid parent", span.GetTraceState())
			}
		})
	}
}

// With the default parent-based sampler, a parent that was not sampled
// keeps the request out of the trace.
func TestUnsampledParentIsNotExported(t *testing.T) {
	recv := exported(t, nil, func(tr *Tracer) {
		tr.Start([]byte("00-"+parentTraceID+"-"+parentSpanID+"-00"), nil, "chat", "cpen/middle", spanStart).End(spanEnd)
	})
	if rs := recv.ResourceSpans(); len(rs) != 0 {
		t.Fatalf("receiver got %d resource spans, want none", len(rs))
	}
}

func TestSamplerFromEnv(t *testing.T) {
	recv := exported(t, map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, func(tr *Tracer) {
		tr.Start([]byte(traceparent), nil, "chat", "cpen/middle", spanStart).End(spanEnd)
	})
	if rs := recv.ResourceSpans(); len(rs) != 0 {
		t.Fatalf("receiver got %d resource spans with always_off, want none", len(rs))
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		wantCode      tracepb.Status_StatusCode
		wantErrorType string // "" means no error.type attribute
	}{
		{name: "ok", status: 200, wantCode: tracepb.Status_STATUS_CODE_UNSET},
		{name: "client error", status: 404, wantCode: tracepb.Status_STATUS_CODE_UNSET},
		{name: "too many requests", status: 429, wantCode: tracepb.Status_STATUS_CODE_ERROR, wantErrorType: "429"},
		{name: "bad gateway", status: 502, wantCode: tracepb.Status_STATUS_CODE_ERROR, wantErrorType: "502"},
		{name: "unavailable", status: 503, wantCode: tracepb.Status_STATUS_CODE_ERROR, wantErrorType: "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv := exported(t, nil, func(tr *Tracer) {
				s := tr.Start([]byte(traceparent), nil, "chat", "cpen/middle", spanStart)
				s.SetStatus(tt.status)
				s.End(spanEnd)
			})
			span := onlySpan(t, recv)
			if got := span.GetStatus().GetCode(); got != tt.wantCode {
				t.Errorf("status code = %v, want %v", got, tt.wantCode)
			}
			got := attrs(t, span.GetAttributes())
			if got["http.response.status_code"] != int64(tt.status) {
				t.Errorf("http.response.status_code = %v, want %d", got["http.response.status_code"], tt.status)
			}
			errType, ok := got["error.type"]
			switch {
			case tt.wantErrorType == "" && ok:
				t.Errorf("error.type = %v, want none", errType)
			case tt.wantErrorType != "" && errType != tt.wantErrorType:
				t.Errorf("error.type = %v, want %q", errType, tt.wantErrorType)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	recv := exported(t, nil, func(tr *Tracer) {
		s := tr.Start([]byte(traceparent), nil, "chat", "cpen/middle", spanStart)
		s.SetRefusal(402, "no_route_under_cap")
		s.End(spanEnd)
	})
	span := onlySpan(t, recv)
	if got := span.GetStatus(); got.GetCode() != tracepb.Status_STATUS_CODE_ERROR || got.GetMessage() != "no_route_under_cap" {
		t.Errorf("status = %v, want ERROR %q", got, "no_route_under_cap")
	}
	want := map[string]any{
		"gen_ai.operation.name":     "chat",
		"gen_ai.request.model":      "cpen/middle",
		"http.response.status_code": int64(402),
		"error.type":                "no_route_under_cap",
	}
	if got := attrs(t, span.GetAttributes()); !maps.Equal(got, want) {
		t.Errorf("attributes =\n%v\nwant\n%v", got, want)
	}
}

func TestEmptyAlias(t *testing.T) {
	recv := exported(t, nil, func(tr *Tracer) {
		s := tr.Start(nil, nil, "chat", "", spanStart)
		s.SetRefusal(400, "malformed_body")
		s.End(spanEnd)
	})
	span := onlySpan(t, recv)
	if span.GetName() != "chat" {
		t.Errorf("name = %q, want %q", span.GetName(), "chat")
	}
	if v, ok := otlptest.Attr(span, "gen_ai.request.model"); ok {
		t.Errorf("gen_ai.request.model = %v, want none for an empty alias", v)
	}
}
