package extproc

import (
	"strings"
	"testing"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Every client-sent x-cpen-* header is removed in the answer to the
// request headers, before Envoy's route could use it.
func TestClientRoutingHeadersRemoved(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	forged := []string{"x-cpen-upstream-cluster", "x-cpen-route-id", "x-cpen-status", "x-cpen-anything"}
	for _, path := range []string{"/v1/chat/completions", "/v1/extractions"} {
		h := reqHeaders(path, seedKey)
		for _, k := range forged {
			hv := h.GetRequestHeaders().GetHeaders()
			hv.Headers = append(hv.Headers, headers(false, k, "cluster_b").GetHeaders().GetHeaders()...)
		}
		out := run(t, s, h)
		got := mutationOf(out[0].GetRequestHeaders().GetResponse())
		if len(got) != len(forged) {
			t.Errorf("%s: request headers mutation %q", path, got)
		}
		for _, k := range forged {
			if !contains(got, "-"+k) {
				t.Errorf("%s: %s not removed: %q", path, k, got)
			}
		}
	}
	// Without such headers the answer carries no mutation at all.
	if got := run(t, s, reqHeaders("/v1/chat/completions", seedKey))[0].GetRequestHeaders().GetResponse(); got.GetHeaderMutation() != nil {
		t.Errorf("a clean request got a mutation: %v", got)
	}
}

// withTrailers is a body message as Envoy sends it when trailers follow:
// the whole buffered body, with end_of_stream false.
func withTrailers(body string, response bool) *extprocv3.ProcessingRequest {
	b := &extprocv3.HttpBody{Body: []byte(body)}
	if response {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: b}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: b}}
}

// A buffered body followed by trailers is still the whole body, on both
// paths: rewritten with its new length, and the exchange settled (here:
// the continuity pin is set, which happens only at settlement).
func TestBufferedBodyWithTrailers(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	cont := withRouting(`{"strategy":"continuity"}`)
	out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), withTrailers(cont, false),
		respHeaders("200", "application/json", "content-length", itoa(len(providerAnswer))), withTrailers(providerAnswer, true),
		&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocv3.HttpTrailers{}}})
	if len(out) != 5 || out[1].GetRequestBody() == nil || out[4].GetResponseTrailers() == nil {
		t.Fatalf("answers: %v", out)
	}
	rb := out[3].GetResponseBody().GetResponse()
	body := string(rb.GetBodyMutation().GetBody())
	if !strings.Contains(body, `"cpen_status":"completed"`) || !contains(mutationOf(rb), "content-length="+itoa(len(body))) {
		t.Errorf("response body %q, mutation %q", body, mutationOf(rb))
	}
	next := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(cont),
		respHeaders("200", "application/json"), respBody(providerAnswer))
	if got := string(next[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody()); !strings.Contains(got, `"reason_code":"continuity_pinned"`) {
		t.Errorf("the exchange with trailers did not settle (no pin): %s", got)
	}
}

// An extraction answer followed by trailers is still validated and
// rewritten, not passed through raw.
func TestExtractionWithTrailers(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	req := `{"model":"cpen/middle","input":"Alice paid 12.50 USD.","schema":{"type":"object","properties":{"amount":{"type":"number"}},"required":["amount"]}}`
	answer := `{"id":"c1","object":"chat.completion","model":"upstream-mini","choices":[{"index":0,"message":{"role":"assistant","content":"{\"amount\":12.5}"}}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}`
	out := run(t, s, reqHeaders("/v1/extractions", seedKey), reqBody(req),
		respHeaders("200", "application/json"), withTrailers(answer, true))
	got := string(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	if !strings.Contains(got, `"object":"extraction"`) || !strings.Contains(got, `"output":{"amount":12.5}`) {
		t.Errorf("extraction answer with trailers: %s", got)
	}
}

// A stream the sidecar cannot rewrite (compressed, or not an event
// stream) is still switched to STREAMED, so Envoy never buffers it whole;
// it passes untouched, with the x-cpen-* headers and without
// content-length, and it settles at its end.
func TestUnrewritableStreamPassesStreamed(t *testing.T) {
	for _, tc := range []struct{ name, ctype, enc string }{
		{"gzip event stream", "text/event-stream", "gzip"},
		{"ndjson", "application/x-ndjson", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, "testdata/catalog.yaml")
			req := `{"model":"cpen/middle","messages":[],"stream":true,"routing":{"strategy":"continuity"}}`
			extra := []string{"content-length", "999"}
			if tc.enc != "" {
				extra = append(extra, "content-encoding", tc.enc)
			}
			out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(req),
				respHeaders("200", tc.ctype, extra...), respChunk("\x1f\x8b opaque", false), respChunk("more", false), respChunk("", true))
			rh := out[2].GetResponseHeaders()
			if rh.GetResponse() == nil || out[2].GetModeOverride().GetResponseBodyMode() != filterv3.ProcessingMode_STREAMED {
				t.Fatalf("response headers answer: %v", out[2])
			}
			m := mutationOf(rh.GetResponse())
			if !contains(m, "-content-length") || !contains(m, "x-cpen-route-id=route_mid_01") || !contains(m, "x-cpen-status=completed") {
				t.Errorf("response headers mutation %q", m)
			}
			for i, o := range out[3:] {
				if o.GetResponseBody() == nil || o.GetResponseBody().GetResponse() != nil {
					t.Errorf("chunk %d was not passed untouched: %v", i, o)
				}
			}
			next := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(withRouting(`{"strategy":"continuity"}`)),
				respHeaders("200", "application/json"), respBody(providerAnswer))
			if got := string(next[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody()); !strings.Contains(got, `"reason_code":"continuity_pinned"`) {
				t.Errorf("the untouched stream did not settle (no pin): %s", got)
			}
		})
	}
}

// A stream request answered with one plain JSON object stays buffered and
// is rewritten like any answer.
func TestStreamRequestAnsweredWithJSON(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	req := `{"model":"cpen/middle","messages":[],"stream":true}`
	out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(req),
		respHeaders("200", "application/json"), respBody(providerAnswer))
	if out[2].GetModeOverride() != nil {
		t.Errorf("a JSON answer was switched to STREAMED")
	}
	if got := string(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody()); !strings.Contains(got, `"model":"cpen/middle"`) {
		t.Errorf("JSON answer not rewritten: %s", got)
	}
}

// A provider that sends many identifying headers gets every one removed,
// however many the stream's answers have removed before (the answer arena
// spills to the heap rather than overrun).
func TestManyProviderHeadersRemoved(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	var extra []string
	for i := 0; i < 40; i++ {
		extra = append(extra, "openai-h"+itoa(i), "v")
	}
	h := reqHeaders("/v1/chat/completions", seedKey)
	for i := 0; i < 20; i++ {
		hv := h.GetRequestHeaders().GetHeaders()
		hv.Headers = append(hv.Headers, headers(false, "x-cpen-forged-"+itoa(i), "x").GetHeaders().GetHeaders()...)
	}
	out := run(t, s, h, reqBody(seedRequest), respHeaders("200", "application/json", extra...), respBody(providerAnswer))
	if got := len(out[0].GetRequestHeaders().GetResponse().GetHeaderMutation().GetRemoveHeaders()); got != 20 {
		t.Errorf("request headers: %d removed, want 20", got)
	}
	removed := out[2].GetResponseHeaders().GetResponse().GetHeaderMutation().GetRemoveHeaders()
	if len(removed) != 40 {
		t.Errorf("response headers: %d removed, want 40", len(removed))
	}
	if !strings.Contains(string(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody()), `"cpen_status":"completed"`) {
		t.Errorf("body not rewritten after the spill")
	}
}
