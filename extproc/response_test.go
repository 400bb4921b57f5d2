package extproc

import (
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

func routed(t *testing.T, s *Server, body string, resp ...*extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	t.Helper()
	msgs := append([]*extprocv3.ProcessingRequest{reqHeaders("/v1/chat/completions", seedKey), reqBody(body)}, resp...)
	out := run(t, s, msgs...)
	if out[1].GetRequestBody() == nil {
		t.Fatalf("request not routed: %v", out[1])
	}
	return out
}

// A provider error keeps its status and body; the alias replaces model and
// the failed route is named.
func TestProviderErrorBody(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := routed(t, s, seedRequest,
		respHeaders("500", "application/json; charset=utf-8", "retry-after", "3"),
		respBody(`{"error":{"message":"boom","type":"server_error"},"model":"upstream-mini"}`))
	rh := mutationOf(out[2].GetResponseHeaders().GetResponse())
	if !contains(rh, "x-cpen-status=failed") || contains(rh, "-retry-after") {
		t.Errorf("response headers %q", rh)
	}
	got := string(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	for _, want := range []string{`"model":"cpen/middle"`, `"cpen_status":"failed"`, `"route_id":"route_mid_01"`, `"message":"boom"`} {
		if !strings.Contains(got, want) {
			t.Errorf("error body lacks %s: %s", want, got)
		}
	}
}

// A non-JSON body passes untouched (no body mutation, so Envoy keeps its
// content-length).
func TestNonJSONResponsePassesThrough(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := routed(t, s, seedRequest, respHeaders("502", "text/plain"), respBody("upstream connect error"))
	if bm := out[3].GetResponseBody().GetResponse().GetBodyMutation(); bm != nil {
		t.Errorf("a text body was mutated: %v", bm)
	}
}

// "stream": true, buffered: every chunk's model is the alias, the first
// carries cpen_route, the last data chunk cpen_status; [DONE] stays.
func TestBufferedSSE(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	sse := "data: {\"id\":\"c\",\"model\":\"upstream-mini\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n" +
		"data: {\"id\":\"c\",\"model\":\"upstream-mini\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n" +
		"data: {\"id\":\"c\",\"model\":\"upstream-mini\",\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n" +
		"data: [DONE]\n\n"
	req := strings.Replace(seedRequest, `"temperature":0.2`, `"stream":true`, 1)
	out := routed(t, s, req, respHeaders("200", "text/event-stream"), respBody(sse))
	got := string(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	events := strings.Split(strings.TrimSuffix(got, "\n\n"), "\n\n")
	if len(events) != 4 || events[3] != "data: [DONE]" {
		t.Fatalf("events: %q", events)
	}
	for i, ev := range events[:3] {
		if strings.Contains(ev, "upstream-mini") || !strings.Contains(ev, `"model":"cpen/middle"`) {
			t.Errorf("event %d: %s", i, ev)
		}
		if strings.Contains(ev, "cpen_route") != (i == 0) || strings.Contains(ev, "cpen_status") != (i == 2) {
			t.Errorf("event %d has the wrong cpen fields: %s", i, ev)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
