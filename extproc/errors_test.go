package extproc

import (
	"encoding/json"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

type errorBody struct {
	Detail string `json:"detail"`
	Error  struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

// immediateOf returns the ImmediateResponse among the answers, or fails.
func immediateOf(t *testing.T, out []*extprocv3.ProcessingResponse) (*extprocv3.ImmediateResponse, errorBody, map[string]string) {
	t.Helper()
	last := out[len(out)-1].GetImmediateResponse()
	if last == nil {
		t.Fatalf("last answer is %T, want an ImmediateResponse", out[len(out)-1].Response)
	}
	var eb errorBody
	if err := json.Unmarshal(last.GetBody(), &eb); err != nil {
		t.Fatalf("error body %q is not JSON: %v", last.GetBody(), err)
	}
	h := map[string]string{}
	for _, hv := range last.GetHeaders().GetSetHeaders() {
		h[hv.GetHeader().GetKey()] = string(hv.GetHeader().GetRawValue())
	}
	return last, eb, h
}

func TestErrors(t *testing.T) {
	chatPath := "/v1/chat/completions"
	tests := []struct {
		name     string
		key      string
		body     string // empty: headers only (end_of_stream)
		status   int
		errType  string
		code     string
		detail   string
		msgCount int // answers expected
	}{
		{"no key", "", `{}`, 401, "authentication_error", "invalid_api_key", "Missing or invalid API key", 1},
		{"unknown key", "cpen_live_nope", `{}`, 401, "authentication_error", "invalid_api_key", "Missing or invalid API key", 1},
		{"not a cpen key", "sk-abc", `{}`, 401, "authentication_error", "invalid_api_key", "Missing or invalid API key", 1},
		{"malformed JSON", seedKey, `{"model":`, 400, "invalid_request_error", "invalid_json", "Request body is not valid JSON", 2},
		{"not an object", seedKey, `[1]`, 400, "invalid_request_error", "invalid_json", "Request body must be a JSON object", 2},
		{"no model", seedKey, `{"messages":[]}`, 400, "invalid_request_error", "invalid_model", "model is required", 2},
		{"model not a string", seedKey, `{"model":3}`, 400, "invalid_request_error", "invalid_model", "model must be a string", 2},
		{"duplicate model", seedKey, `{"model":"cpen/low","mod\u0065l":"cpen/middle"}`, 400, "invalid_request_error", "invalid_request", "model appears twice", 2},
		{"unknown alias", seedKey, `{"model":"gpt-4o"}`, 400, "invalid_request_error", "unknown_model", `model "gpt-4o" is not a CPEN alias (use cpen/low, cpen/middle or cpen/high)`, 2},
		{"currency EUR", seedKey, `{"model":"cpen/middle","routing":{"currency":"EUR"}}`, 400, "invalid_request_error", "invalid_routing", `routing.currency must be "USD"`, 2},
		{"routing not an object", seedKey, `{"model":"cpen/middle","routing":"cheap"}`, 400, "invalid_request_error", "invalid_routing", "routing must be an object", 2},
		{"planned tier", seedKey, `{"model":"cpen/high"}`, 503, "service_unavailable", "tier_unavailable", "Tier cpen/high is unavailable (planned, or no live route)", 2},
		{"no route under budget", seedKey, `{"model":"cpen/middle","routing":{"max_total_per_1m":"0.01"}}`, 402, "insufficient_budget", "no_route_under_budget", "No route available under budget", 2},
		{"400 before 503", seedKey, `{"model":"cpen/high","routing":{"strategy":"x"}}`, 400, "invalid_request_error", "invalid_routing", `routing.strategy must be one of "cheapest", "balanced", "continuity"`, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, "testdata/catalog.yaml")
			msgs := []*extprocv3.ProcessingRequest{reqHeaders(chatPath, tc.key), reqBody(tc.body)}
			// Envoy sends nothing more after an ImmediateResponse.
			out := run(t, s, msgs[:tc.msgCount]...)
			if len(out) != tc.msgCount {
				t.Fatalf("got %d answers, want %d", len(out), tc.msgCount)
			}
			ir, eb, h := immediateOf(t, out)
			if int(ir.GetStatus().GetCode()) != tc.status {
				t.Errorf("status %d, want %d", ir.GetStatus().GetCode(), tc.status)
			}
			if eb.Detail != tc.detail || eb.Error.Message != tc.detail || eb.Error.Type != tc.errType || eb.Error.Code != tc.code {
				t.Errorf("body %+v, want detail %q type %q code %q", eb, tc.detail, tc.errType, tc.code)
			}
			if h["content-type"] != "application/json" || h["x-cpen-status"] != "rejected" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	big := `{"model":"cpen/middle","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	ir, eb, _ := immediateOf(t, run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(big)))
	if ir.GetStatus().GetCode() != 413 || eb.Error.Code != "body_too_large" || eb.Error.Type != "invalid_request_error" ||
		eb.Detail != "Request body is over the limit of 1048576 bytes" {
		t.Errorf("status %d body %+v", ir.GetStatus().GetCode(), eb)
	}
}

// 429 wins over 402, a 402 takes no slot, and the 429 carries Retry-After.
func TestRateLimitOrder(t *testing.T) {
	s, clk := newTestServer(t, "testdata/catalog.yaml")
	ok := `{"model":"cpen/middle"}`
	broke := `{"model":"cpen/middle","routing":{"max_total_per_1m":"0.01"}}`
	for i := 0; i < 3; i++ { // 402s take no slot of key_other's 2
		ir, _, _ := immediateOf(t, run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(broke)))
		if ir.GetStatus().GetCode() != 402 {
			t.Fatalf("request %d: status %d, want 402", i, ir.GetStatus().GetCode())
		}
	}
	for i := 0; i < 2; i++ {
		out := run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(ok))
		if out[1].GetRequestBody() == nil {
			t.Fatalf("admission %d refused: %v", i, out[1])
		}
		clk.t = clk.t.Add(10_000_000_000) // 10 s
	}
	for _, body := range []string{ok, broke} {
		ir, eb, h := immediateOf(t, run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(body)))
		if ir.GetStatus().GetCode() != 429 || eb.Error.Code != "rpm_cap_exceeded" || eb.Error.Type != "rate_limit_error" {
			t.Fatalf("status %d body %+v", ir.GetStatus().GetCode(), eb)
		}
		// The oldest admission was 20 s ago: it leaves the window in 40 s.
		want := map[string]string{"retry-after": "40", "x-ratelimit-limit-requests": "2",
			"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "40s"}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("%s = %q, want %q", k, h[k], v)
			}
		}
	}
}

func TestRPMCapFromRequest(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	body := `{"model":"cpen/low","routing":{"rpm_cap":1}}`
	if out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body)); out[1].GetRequestBody() == nil {
		t.Fatalf("first request refused")
	}
	_, eb, h := immediateOf(t, run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body)))
	if eb.Error.Code != "rpm_cap_exceeded" || !strings.Contains(eb.Detail, "routing.rpm_cap") || h["retry-after"] != "60" {
		t.Errorf("body %+v headers %v", eb, h)
	}
}

func TestLocalEndpoints(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	get := func(path string) *extprocv3.ProcessingRequest {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
			RequestHeaders: headers(true, ":method", "GET", ":path", path)}}
	}
	out := run(t, s, get("/health"))
	if ir := out[0].GetImmediateResponse(); ir.GetStatus().GetCode() != 200 || string(ir.GetBody()) != `{"status":"ok"}` {
		t.Errorf("/health: %v", ir)
	}
	ir, eb, _ := immediateOf(t, run(t, s, get("/v2/nothing")))
	if ir.GetStatus().GetCode() != 404 || eb.Error.Code != "not_found" {
		t.Errorf("unknown path: %d %+v", ir.GetStatus().GetCode(), eb)
	}
}
