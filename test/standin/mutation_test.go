package standin

import (
	"net/http"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Checklist 5: header mutation order, overwrite/append, raw_value, rules.
func TestHeaderMutations(t *testing.T) {
	tests := []struct {
		name         string
		rules        MutationRules
		mut          *extprocv3.HeaderMutation
		wantStatus   int
		wantRejected uint64
		wantHeader   map[string][]string // upstream header -> values (nil = absent)
		wantMethod   string
		wantPath     string
	}{
		{
			name: "removes run before sets", mut: hm([]string{"x-existing"}, setRaw("x-existing", "new")),
			wantStatus: 200, wantHeader: map[string][]string{"X-Existing": {"new"}},
		},
		{
			name: "set overwrites every value", mut: hm(nil, setRaw("x-multi", "one")),
			wantStatus: 200, wantHeader: map[string][]string{"X-Multi": {"one"}},
		},
		{
			name: "append=true adds a value", mut: hm(nil, appendRaw("x-existing", "more")),
			wantStatus: 200, wantHeader: map[string][]string{"X-Existing": {"old", "more"}},
		},
		{
			name: "append_action is ignored",
			mut: hm(nil, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: "x-existing", RawValue: []byte("new")},
				AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
			}),
			wantStatus: 200, wantHeader: map[string][]string{"X-Existing": {"new"}},
		},
		{
			name:       "value without raw_value gives an empty header",
			mut:        hm(nil, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-value-only", Value: "lost"}}),
			wantStatus: 200, wantHeader: map[string][]string{"X-Value-Only": {""}},
		},
		{
			name:       "value and raw_value fail the request",
			mut:        hm(nil, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-both", Value: "a", RawValue: []byte("b")}}),
			wantStatus: 500, wantRejected: 1,
		},
		{name: "invalid name character", mut: hm(nil, setRaw("bad name", "v")), wantStatus: 500, wantRejected: 1},
		{name: "invalid value character", mut: hm(nil, setRaw("x-bad", "a\nb")), wantStatus: 500, wantRejected: 1},
		{name: "invalid remove name", mut: hm([]string{"bad name"}), wantStatus: 500, wantRejected: 1},
		{
			name: ":path may be set", mut: hm(nil, setRaw(":path", "/v2/other?q=1")),
			wantStatus: 200, wantPath: "/v2/other?q=1",
		},
		{
			name: "disallowed mutations are ignored and counted",
			mut: hm([]string{":path", "host", ":authority"},
				setRaw(":authority", "evil.example"), setRaw("host", "evil.example"),
				setRaw("x-envoy-foo", "1"), setRaw(":method", "DELETE"), setRaw(":scheme", "https"),
				setRaw("x-allowed", "yes")),
			wantStatus: 200, wantRejected: 8, wantMethod: http.MethodPost, wantPath: "/v1/chat/completions",
			wantHeader: map[string][]string{"X-Envoy-Foo": nil, "X-Allowed": {"yes"}},
		},
		{
			name: "appending to a pseudo-header is refused", mut: hm(nil, appendRaw(":path", "/x")),
			wantStatus: 200, wantRejected: 1, wantPath: "/v1/chat/completions",
		},
		{
			name: "allow_all_routing allows :method", rules: MutationRules{AllowAllRouting: true},
			mut:        hm(nil, setRaw(":method", http.MethodPut)),
			wantStatus: 200, wantMethod: http.MethodPut,
		},
		{
			name: "allow_all_routing still checks :scheme values", rules: MutationRules{AllowAllRouting: true},
			mut:        hm(nil, setRaw(":scheme", "ftp")),
			wantStatus: 200, wantRejected: 1,
		},
		{
			name: "allow_envoy allows x-envoy-*", rules: MutationRules{AllowEnvoy: true},
			mut:        hm(nil, setRaw("x-envoy-foo", "1")),
			wantStatus: 200, wantHeader: map[string][]string{"X-Envoy-Foo": {"1"}},
		},
		{
			name: "disallow_is_error fails instead", rules: MutationRules{DisallowIsError: true},
			mut:        hm(nil, setRaw("x-fine", "1"), setRaw(":authority", "evil.example")),
			wantStatus: 500, wantRejected: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{
				cfg:     Config{MutationRules: tc.rules},
				scripts: [][]action{{on(kindRequestHeaders, reqHeadersAns(cr(withHM(tc.mut)))), autoAnswer()}},
			})
			res := h.post(t, `{"model":"m"}`, "X-Existing", "old", "X-Multi", "1", "X-Multi", "2")
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d (%v), want %d", res.status, res.err, tc.wantStatus)
			}
			logs := h.fake.waitStreams(t, 1)
			if got := h.proxy.Stats().RejectedHeaderMutations; got != tc.wantRejected {
				t.Errorf("rejected_header_mutations = %d, want %d", got, tc.wantRejected)
			}
			reqs := h.ups["a"].requests()
			if tc.wantStatus != 200 {
				if len(reqs) != 0 {
					t.Errorf("upstream was contacted")
				}
				// Envoy's own error reply never goes to the server.
				if got := logs[0].kinds(); !equalStrings(got, []string{"request_headers"}) {
					t.Errorf("messages = %v", got)
				}
				return
			}
			up := reqs[0]
			for k, want := range tc.wantHeader {
				got, ok := up.header[k]
				if want == nil && ok {
					t.Errorf("upstream %s = %q, want absent", k, got)
				}
				if want != nil && !equalStrings(got, want) {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
			if tc.wantMethod != "" && up.method != tc.wantMethod {
				t.Errorf("upstream method = %s, want %s", up.method, tc.wantMethod)
			}
			if tc.wantPath != "" && up.path != tc.wantPath {
				t.Errorf("upstream path = %s, want %s", up.path, tc.wantPath)
			}
			// auto_host_rewrite: the upstream sees its own host.
			if up.host != "127.0.0.1" {
				t.Errorf("upstream Host = %q, want the endpoint host 127.0.0.1", up.host)
			}
		})
	}
}

// Checklist 6: header mutations in body answers count only while the
// headers are still held (BUFFERED with headers SEND).
func TestBodyAnswerHeaderMutations(t *testing.T) {
	set := hm(nil, setRaw("x-from-body", "1"))
	tests := []struct {
		name       string
		mode       *extprocfilterv3.ProcessingMode
		script     []action
		wantUp     bool // the upstream request has x-from-body
		wantClient bool // the client response has x-from-body
	}{
		{
			name:   "buffered request body answer",
			script: []action{on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(cr(withHM(set)))), autoAnswer()},
			wantUp: true,
		},
		{
			name: "buffered request body with request headers SKIP",
			mode: &extprocfilterv3.ProcessingMode{
				RequestHeaderMode: extprocfilterv3.ProcessingMode_SKIP, RequestBodyMode: modeBuffered,
				ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP,
			},
			script: []action{on(kindRequestBody, reqBodyAns(cr(withHM(set))))},
		},
		{
			name: "streamed request body answer",
			mode: &extprocfilterv3.ProcessingMode{RequestBodyMode: modeStreamed, ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP},
			script: []action{on(kindRequestHeaders, reqHeadersAns(nil)), {pipelined: kindRequestBody, answer: func(int, *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
				return reqBodyAns(cr(withHM(set)))
			}}},
		},
		{
			name:       "buffered response body answer",
			script:     []action{on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)), on(kindResponseHeaders, respHeadersAns(nil)), on(kindResponseBody, respBodyAns(cr(withHM(set))))},
			wantClient: true,
		},
		{
			name: "streamed response body answer",
			mode: &extprocfilterv3.ProcessingMode{RequestBodyMode: modeBuffered, ResponseBodyMode: modeStreamed},
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)), on(kindResponseHeaders, respHeadersAns(nil)),
				{pipelined: kindResponseBody, answer: func(int, *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
					return respBodyAns(cr(withHM(set)))
				}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: Config{Mode: tc.mode}, scripts: [][]action{tc.script}})
			res := h.post(t, `{"model":"m"}`)
			if res.status != 200 || res.body != `{"ok":true}` {
				t.Fatalf("client got %d %q (%v)", res.status, res.body, res.err)
			}
			h.fake.waitStreams(t, 1)
			up := h.ups["a"].requests()[0]
			if got := up.header.Get("X-From-Body") != ""; got != tc.wantUp {
				t.Errorf("upstream has x-from-body = %v, want %v", got, tc.wantUp)
			}
			if got := res.header.Get("X-From-Body") != ""; got != tc.wantClient {
				t.Errorf("client has x-from-body = %v, want %v", got, tc.wantClient)
			}
		})
	}
}

// Checklist 7: Content-Length against mutated bodies.
func TestContentLength(t *testing.T) {
	const orig = `{"model":"m"}` // 13 bytes
	streamedReq := &extprocfilterv3.ProcessingMode{RequestBodyMode: modeStreamed, ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP}
	tests := []struct {
		name       string
		mode       *extprocfilterv3.ProcessingMode
		override   bool
		script     []action
		wantStatus int
		wantBody   string // client body
		wantUp     int
		wantUpBody string
		wantUpCL   string // upstream Content-Length header ("" = absent)
		wantHdrCL  string // content-length in the request_headers message
		wantRespCL string // client Content-Length header, when checked
	}{
		{
			name: "matching content-length in the same answer",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)),
				on(kindRequestBody, reqBodyAns(cr(withBody("new body"), withHM(hm(nil, setRaw("content-length", "8")))))),
				autoAnswer(),
			},
			wantStatus: 200, wantBody: `{"ok":true}`, wantUp: 1, wantUpBody: "new body", wantUpCL: "8", wantHdrCL: "13",
		},
		{
			name: "mismatch is a 500 and the upstream is never contacted",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)),
				on(kindRequestBody, reqBodyAns(cr(withBody("new body")))),
			},
			wantStatus: 500, wantUp: 0, wantHdrCL: "13",
		},
		{
			name: "removing content-length lets any body through",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)),
				on(kindRequestBody, reqBodyAns(cr(withBody("longer new body"), withHM(hm([]string{"content-length"}))))),
				autoAnswer(),
			},
			wantStatus: 200, wantBody: `{"ok":true}`, wantUp: 1, wantUpBody: "longer new body", wantHdrCL: "13",
		},
		{
			name: "clear_body compares against zero",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)),
				on(kindRequestBody, reqBodyAns(cr(withClearBody()))),
			},
			wantStatus: 500, wantUp: 0, wantHdrCL: "13",
		},
		{
			name: "response body mismatch replaces the upstream reply with 500",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, respHeadersAns(nil)),
				on(kindResponseBody, respBodyAns(cr(withBody("different")))),
			},
			wantStatus: 500, wantUp: 1, wantUpBody: orig, wantUpCL: "13", wantHdrCL: "13",
		},
		{
			name: "response body with matching content-length",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, respHeadersAns(nil)),
				on(kindResponseBody, respBodyAns(cr(withBody("different"), withHM(hm(nil, setRaw("content-length", "9")))))),
			},
			wantStatus: 200, wantBody: "different", wantUp: 1, wantUpBody: orig, wantUpCL: "13", wantHdrCL: "13", wantRespCL: "9",
		},
		{
			name: "streamed: removed at headers time, later sets skipped",
			mode: streamedReq,
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(cr(withHM(hm(nil, setRaw("content-length", "13")))))),
				{pipelined: kindRequestBody, answer: func(int, *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse { return reqBodyAns(nil) }},
			},
			wantStatus: 200, wantBody: `{"ok":true}`, wantUp: 1, wantUpBody: orig, wantHdrCL: "13",
		},
		{
			name: "mode_override to STREAMED keeps the upstream content-length", override: true,
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, &extprocv3.ProcessingResponse{
					Response:     respHeadersAns(cr(withHM(hm(nil, setRaw("content-length", "99"))))).Response,
					ModeOverride: &extprocfilterv3.ProcessingMode{ResponseBodyMode: modeStreamed},
				}),
				{pipelined: kindResponseBody, answer: func(int, *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse { return respBodyAns(nil) }},
			},
			wantStatus: 200, wantBody: `{"ok":true}`, wantUp: 1, wantUpBody: orig, wantUpCL: "13", wantHdrCL: "13", wantRespCL: "11",
		},
		{
			name: "CONTINUE_AND_REPLACE replaces the body and drops content-length",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(cr(withReplace(), withBody("replaced!")))),
				on(kindResponseHeaders, respHeadersAns(nil)), on(kindResponseBody, respBodyAns(nil)),
			},
			wantStatus: 200, wantBody: `{"ok":true}`, wantUp: 1, wantUpBody: "replaced!", wantHdrCL: "13",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: Config{Mode: tc.mode, AllowModeOverride: tc.override}, scripts: [][]action{tc.script}})
			res := h.post(t, orig)
			if res.status != tc.wantStatus || (tc.wantBody != "" && res.body != tc.wantBody) {
				t.Fatalf("client got %d %q (%v), want %d %q", res.status, res.body, res.err, tc.wantStatus, tc.wantBody)
			}
			logs := h.fake.waitStreams(t, 1)
			if got := values(pairs(t, logs[0].messages()[0].GetRequestHeaders().GetHeaders()), "content-length"); !equalStrings(got, []string{tc.wantHdrCL}) {
				t.Errorf("request_headers content-length = %v, want %s", got, tc.wantHdrCL)
			}
			if tc.wantRespCL != "" && res.header.Get("Content-Length") != tc.wantRespCL {
				t.Errorf("client content-length = %q, want %s", res.header.Get("Content-Length"), tc.wantRespCL)
			}
			reqs := h.ups["a"].requests()
			if len(reqs) != tc.wantUp {
				t.Fatalf("upstream calls = %d, want %d", len(reqs), tc.wantUp)
			}
			if tc.wantUp == 0 {
				if got := logs[0].kinds(); !equalStrings(got, []string{"request_headers", "request_body"}) {
					t.Errorf("messages = %v", got)
				}
				return
			}
			up := reqs[0]
			if string(up.body) != tc.wantUpBody {
				t.Errorf("upstream body = %q, want %q", up.body, tc.wantUpBody)
			}
			if got := up.header.Get("Content-Length"); got != tc.wantUpCL {
				t.Errorf("upstream content-length = %q, want %q", got, tc.wantUpCL)
			}
			if tc.wantUpCL == "" && up.clen != -1 {
				t.Errorf("upstream ContentLength = %d, want chunked (-1)", up.clen)
			}
		})
	}
}

// Checklist 5 on the response side: :status may be set to an integer >= 200.
func TestResponseHeaderMutations(t *testing.T) {
	tests := []struct {
		name         string
		mut          *extprocv3.HeaderMutation
		wantStatus   int
		wantRejected uint64
		wantHeader   string
	}{
		{name: ":status set", mut: hm(nil, setRaw(":status", "202")), wantStatus: 202},
		{name: ":status below 200 ignored", mut: hm(nil, setRaw(":status", "150")), wantStatus: 200, wantRejected: 1},
		{name: ":status not a number ignored", mut: hm(nil, setRaw(":status", "ok")), wantStatus: 200, wantRejected: 1},
		{name: ":status cannot be removed", mut: hm([]string{":status"}), wantStatus: 200, wantRejected: 1},
		{name: "ordinary header set", mut: hm([]string{"x-upstream"}, setRaw("x-route", "r1")), wantStatus: 200, wantHeader: "r1"},
		{name: "x-envoy-* ignored", mut: hm(nil, setRaw("x-envoy-upstream-service-time", "0")), wantStatus: 200, wantRejected: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{scripts: [][]action{{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, respHeadersAns(cr(withHM(tc.mut)))), on(kindResponseBody, respBodyAns(nil)),
			}}})
			res := h.post(t, `{"model":"m"}`)
			if res.status != tc.wantStatus || res.body != `{"ok":true}` {
				t.Fatalf("client got %d %q (%v), want %d", res.status, res.body, res.err, tc.wantStatus)
			}
			h.fake.waitStreams(t, 1)
			if got := h.proxy.Stats().RejectedHeaderMutations; got != tc.wantRejected {
				t.Errorf("rejected_header_mutations = %d, want %d", got, tc.wantRejected)
			}
			if got := res.header.Get("X-Route"); got != tc.wantHeader {
				t.Errorf("x-route = %q, want %q", got, tc.wantHeader)
			}
			if tc.wantHeader != "" && res.header.Get("X-Upstream") != "" {
				t.Errorf("x-upstream was not removed")
			}
		})
	}
}
