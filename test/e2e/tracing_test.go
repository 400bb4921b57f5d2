package e2e

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/otlptest"
)

// With the standard OTLP variables set, the sidecar exports one server
// span per request to the collector, child of the traceparent the client
// sent (Envoy forwards it), with the GenAI attributes and the route, cost
// and usage of the answer; never the prompt or the completion.
func TestTracesOverOTLP(t *testing.T) {
	rcv := otlptest.Start(t)
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	s.sidecar = startSidecarEnv(t, writeCatalog(t), []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.Endpoint(),
		"OTEL_BSP_SCHEDULE_DELAY=50", // export within 50 ms, not the default 5 s
	})
	s.url = s.front(s.sidecar)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	comp, resp, err := chat(t, s, seedKey, "cpen/middle",
		route{"max_total_per_1m": "0.30", "min_total_per_1m": "0.05", "strategy": "balanced"},
		option.WithHeader("traceparent", "00-"+traceID+"-"+parentID+"-01"))
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	routeInfo := cpenRoute(t, comp)
	cost := strings.Trim(comp.JSON.ExtraFields["cpen_cost_usd"].Raw(), `"`)

	wctx, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	spans, err := rcv.Wait(wctx, 1)
	if err != nil {
		t.Fatalf("no span reached the collector: %v", err)
	}
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1 for one request", len(spans))
	}
	sp := spans[0]
	if sp.GetName() != "chat cpen/middle" || sp.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span %q kind %v", sp.GetName(), sp.GetKind())
	}
	if hex.EncodeToString(sp.GetTraceId()) != traceID || hex.EncodeToString(sp.GetParentSpanId()) != parentID {
		t.Errorf("span trace %x parent %x, want %s and %s", sp.GetTraceId(), sp.GetParentSpanId(), traceID, parentID)
	}
	want := map[string]string{
		"gen_ai.operation.name":      "chat",
		"gen_ai.request.model":       "cpen/middle",
		"gen_ai.usage.input_tokens":  strconv.FormatInt(comp.Usage.PromptTokens, 10),
		"gen_ai.usage.output_tokens": strconv.FormatInt(comp.Usage.CompletionTokens, 10),
		"cpen.route_id":              routeInfo["route_id"].(string),
		"cpen.strategy":              "balanced",
		"cpen.reason_code":           routeInfo["reason_code"].(string),
		"cpen.cost_usd":              cost,
		"http.response.status_code":  strconv.Itoa(resp.StatusCode),
	}
	for k, v := range want {
		got, ok := otlptest.Attr(sp, k)
		if !ok {
			t.Errorf("span lacks %s", k)
			continue
		}
		var text string
		switch val := got.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			text = val.StringValue
		case *commonpb.AnyValue_IntValue:
			text = strconv.FormatInt(val.IntValue, 10)
		default:
			t.Errorf("span %s has a %T", k, val)
		}
		if text != v {
			t.Errorf("span %s = %s, want %s", k, text, v)
		}
	}
	if len(sp.GetAttributes()) != len(want) {
		t.Errorf("span has %d attributes, want exactly %d: %v", len(sp.GetAttributes()), len(want), sp.GetAttributes())
	}
	for _, a := range sp.GetAttributes() {
		if strings.Contains(a.GetValue().String(), "parcel") {
			t.Errorf("the prompt reached the span: %s", a)
		}
	}
}
