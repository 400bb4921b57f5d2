package standin

import (
	"net/http"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

func withOverride(r *extprocv3.ProcessingResponse, m *extprocfilterv3.ProcessingMode) *extprocv3.ProcessingResponse {
	r.ModeOverride = m
	return r
}

// Checklist 9: mode_override.
func TestModeOverride(t *testing.T) {
	tests := []struct {
		name      string
		allow     bool
		script    []action
		wantKinds []string
	}{
		{
			name: "ignored unless allow_mode_override",
			script: []action{
				on(kindRequestHeaders, withOverride(reqHeadersAns(nil), &extprocfilterv3.ProcessingMode{})),
				autoAnswer(),
			},
			wantKinds: fullKinds(),
		},
		{
			// Body modes are copied literally: only response_body_mode set
			// turns the request body mode into NONE.
			name: "request_headers answer, body modes copied literally", allow: true,
			script: []action{
				on(kindRequestHeaders, withOverride(reqHeadersAns(nil), &extprocfilterv3.ProcessingMode{ResponseBodyMode: modeBuffered})),
				autoAnswer(),
			},
			wantKinds: []string{"request_headers", "response_headers", "response_body"},
		},
		{
			name: "ignored in a body answer", allow: true,
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)),
				on(kindRequestBody, withOverride(reqBodyAns(nil), &extprocfilterv3.ProcessingMode{ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP})),
				autoAnswer(),
			},
			wantKinds: fullKinds(),
		},
		{
			name: "DEFAULT header modes keep the configured ones", allow: true,
			script: []action{
				on(kindRequestHeaders, withOverride(reqHeadersAns(nil), &extprocfilterv3.ProcessingMode{RequestBodyMode: modeBuffered, ResponseBodyMode: modeBuffered})),
				autoAnswer(),
			},
			wantKinds: fullKinds(),
		},
		{
			name: "SKIP response headers and NONE response body", allow: true,
			script: []action{
				on(kindRequestHeaders, withOverride(reqHeadersAns(nil), &extprocfilterv3.ProcessingMode{
					RequestBodyMode: modeBuffered, ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP,
				})),
				autoAnswer(),
			},
			wantKinds: []string{"request_headers", "request_body"},
		},
		{
			name: "response_headers answer switches the response to STREAMED", allow: true,
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, withOverride(respHeadersAns(nil), &extprocfilterv3.ProcessingMode{ResponseBodyMode: modeStreamed})),
				{pipelined: kindResponseBody, answer: func(int, *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse { return respBodyAns(nil) }},
			},
			wantKinds: nil, // checked below: response_body messages end with end_of_stream
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: Config{AllowModeOverride: tc.allow}, scripts: [][]action{tc.script}})
			res := h.post(t, `{"model":"m"}`)
			if res.status != 200 || res.body != `{"ok":true}` {
				t.Fatalf("client got %d %q (%v)", res.status, res.body, res.err)
			}
			logs := h.fake.waitStreams(t, 1)
			if string(h.ups["a"].requests()[0].body) != `{"model":"m"}` {
				t.Errorf("upstream body changed")
			}
			got := logs[0].kinds()
			if tc.wantKinds != nil && !equalStrings(got, tc.wantKinds) {
				t.Errorf("messages = %v, want %v", got, tc.wantKinds)
			}
			if tc.wantKinds == nil {
				msgs := logs[0].messages()
				last := bodyOf(msgs[len(msgs)-1])
				if kindOf(msgs[len(msgs)-1]) != kindResponseBody || !last.GetEndOfStream() {
					t.Errorf("messages = %v, want streamed response_body ending with end_of_stream", got)
				}
			}
			if code := logs[0].endCode(); code != codes.Canceled {
				t.Errorf("stream ended with %v, want Canceled", code)
			}
		})
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Checklist 10: dynamic metadata.
func TestDynamicMetadata(t *testing.T) {
	withMD := func(r *extprocv3.ProcessingResponse, md *structpb.Struct) *extprocv3.ProcessingResponse {
		r.DynamicMetadata = md
		return r
	}
	tests := []struct {
		name   string
		ns     []string
		script func(t *testing.T) []action
		want   map[string]map[string]any
	}{
		{
			name: "kept for receiving namespaces and merged", ns: []string{"ns.a"},
			script: func(t *testing.T) []action {
				return []action{
					on(kindRequestHeaders, withMD(reqHeadersAns(nil), mustStruct(t, map[string]any{
						"ns.a": map[string]any{"k1": 1, "k2": "x"},
						"ns.b": map[string]any{"k": "dropped"},
					}))),
					on(kindRequestBody, reqBodyAns(nil)),
					on(kindResponseHeaders, respHeadersAns(nil)),
					on(kindResponseBody, withMD(respBodyAns(nil), mustStruct(t, map[string]any{
						"ns.a": map[string]any{"k2": "y", "k3": true},
					}))),
				}
			},
			want: map[string]map[string]any{"ns.a": {"k1": 1, "k2": "y", "k3": true}},
		},
		{
			name: "immediate_response metadata counts", ns: []string{"ns.a"},
			script: func(t *testing.T) []action {
				return []action{on(kindRequestHeaders, withMD(immediate(403, "no", nil), mustStruct(t, map[string]any{"ns.a": map[string]any{"why": "denied"}})))}
			},
			want: map[string]map[string]any{"ns.a": {"why": "denied"}},
		},
		{
			name: "nothing without receiving namespaces",
			script: func(t *testing.T) []action {
				return []action{on(kindRequestHeaders, withMD(reqHeadersAns(nil), mustStruct(t, map[string]any{"ns.a": map[string]any{"k": 1}}))), autoAnswer()}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: Config{ReceivingNamespaces: tc.ns}, scripts: [][]action{tc.script(t)}})
			res := h.post(t, `{"model":"m"}`, "X-Request-Id", "meta-1")
			if res.err != nil {
				t.Fatal(res.err)
			}
			h.fake.waitStreams(t, 1)
			got := h.proxy.DynamicMetadata("meta-1")
			if len(got) != len(tc.want) {
				t.Fatalf("metadata = %v, want %v", got, tc.want)
			}
			for ns, fields := range tc.want {
				if !proto.Equal(got[ns], mustStruct(t, fields)) {
					t.Errorf("metadata[%s] = %v, want %v", ns, got[ns], fields)
				}
			}
		})
	}
}

// Checklist 11: ImmediateResponse in every phase.
func TestImmediateResponse(t *testing.T) {
	streamedResp := &extprocfilterv3.ProcessingMode{RequestBodyMode: modeBuffered, ResponseBodyMode: modeStreamed}
	ct := func(v string) *extprocv3.HeaderMutation { return hm(nil, setRaw("content-type", v)) }
	tests := []struct {
		name         string
		mode         *extprocfilterv3.ProcessingMode
		script       []action
		wantStatus   int
		wantBody     string
		wantCT       string
		wantCL       string
		wantUp       int
		wantKinds    []string
		wantRejected uint64
		wantReset    bool
	}{
		{
			name: "request_headers: defaults", script: []action{on(kindRequestHeaders, immediate(0, "denied", nil))},
			wantStatus: 200, wantBody: "denied", wantCT: "text/plain", wantCL: "6", wantKinds: []string{"request_headers"},
		},
		{
			name: "status below 200 becomes 200", script: []action{on(kindRequestHeaders, immediate(100, "x", nil))},
			wantStatus: 200, wantBody: "x", wantCT: "text/plain", wantCL: "1", wantKinds: []string{"request_headers"},
		},
		{
			name: "own content-type kept, content-length forced",
			script: []action{on(kindRequestHeaders, immediate(429, `{"e":1}`, hm(nil,
				setRaw("content-type", "application/json"), setRaw("content-length", "999"))))},
			wantStatus: 429, wantBody: `{"e":1}`, wantCT: "application/json", wantCL: "7", wantKinds: []string{"request_headers"},
		},
		{
			name:       "empty body drops content-type and content-length",
			script:     []action{on(kindRequestHeaders, immediate(401, "", ct("application/json")))},
			wantStatus: 401, wantKinds: []string{"request_headers"},
		},
		{
			name: "headers follow the mutation rules",
			script: []action{on(kindRequestHeaders, immediate(403, "no", hm(nil,
				setRaw("x-envoy-foo", "1"), setRaw("x-ok", "1"))))},
			wantStatus: 403, wantBody: "no", wantCT: "text/plain", wantCL: "2", wantKinds: []string{"request_headers"}, wantRejected: 1,
		},
		{
			name:       "request_body phase",
			script:     []action{on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, immediate(400, "bad", nil))},
			wantStatus: 400, wantBody: "bad", wantCT: "text/plain", wantCL: "3", wantKinds: []string{"request_headers", "request_body"},
		},
		{
			name: "response_headers phase",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, immediate(502, "upstream said no", nil)),
			},
			wantStatus: 502, wantBody: "upstream said no", wantCT: "text/plain", wantCL: "16", wantUp: 1,
			wantKinds: []string{"request_headers", "request_body", "response_headers"},
		},
		{
			name: "buffered response_body phase",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, respHeadersAns(nil)), on(kindResponseBody, immediate(500, "late", nil)),
			},
			wantStatus: 500, wantBody: "late", wantCT: "text/plain", wantCL: "4", wantUp: 1, wantKinds: fullKinds(),
		},
		{
			name: "streamed response_body after the headers went out resets",
			mode: streamedResp,
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, respHeadersAns(nil)), on(kindResponseBody, immediate(500, "late", nil)),
			},
			wantStatus: 200, wantUp: 1, wantKinds: fullKinds(), wantReset: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: Config{Mode: tc.mode}, scripts: [][]action{tc.script}})
			res := h.post(t, `{"model":"m"}`)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d (%v), want %d", res.status, res.err, tc.wantStatus)
			}
			if tc.wantReset {
				if res.err == nil {
					t.Errorf("client read %q without error, want a reset", res.body)
				}
			} else {
				if res.err != nil || res.body != tc.wantBody {
					t.Errorf("body = %q (%v), want %q", res.body, res.err, tc.wantBody)
				}
				if got := res.header.Get("Content-Type"); got != tc.wantCT {
					t.Errorf("content-type = %q, want %q", got, tc.wantCT)
				}
				if tc.wantCL != "" && res.header.Get("Content-Length") != tc.wantCL {
					t.Errorf("content-length = %q, want %s", res.header.Get("Content-Length"), tc.wantCL)
				}
			}
			logs := h.fake.waitStreams(t, 1)
			// After an immediate response nothing more goes to the server.
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Errorf("messages = %v, want %v", got, tc.wantKinds)
			}
			if got := len(h.ups["a"].requests()); got != tc.wantUp {
				t.Errorf("upstream calls = %d, want %d", got, tc.wantUp)
			}
			if tc.wantRejected > 0 {
				if res.header.Get("X-Envoy-Foo") != "" || res.header.Get("X-Ok") != "1" {
					t.Errorf("immediate headers = %v", res.header)
				}
			}
			st := h.proxy.Stats()
			if st.RejectedHeaderMutations != tc.wantRejected || st.SpuriousMsgsReceived != 0 {
				t.Errorf("stats = %+v, want %d rejected", st, tc.wantRejected)
			}
		})
	}
}

// Checklist 12: timeouts, stream errors and how the stream ends.
func TestStreamFailures(t *testing.T) {
	overrideTimeout := &extprocv3.ProcessingResponse{OverrideMessageTimeout: durationpb.New(time.Minute)}
	tests := []struct {
		name       string
		cfg        Config
		noServer   bool
		script     []action
		wantStatus int
		wantUpBody string // "" = upstream not contacted
		want       Stats  // only the counters checked below
		wantStream int
	}{
		{
			name:       "message timeout is 504",
			cfg:        Config{MessageTimeout: 200 * time.Millisecond},
			script:     []action{recvOnly(kindRequestHeaders), sleepFor(waitLimit)},
			wantStatus: 504, want: Stats{MessageTimeouts: 1}, wantStream: 1,
		},
		{
			name:       "override_message_timeout is ignored",
			cfg:        Config{MessageTimeout: 200 * time.Millisecond},
			script:     []action{recvOnly(kindRequestHeaders), reply(overrideTimeout), sleepFor(waitLimit)},
			wantStatus: 504, want: Stats{MessageTimeouts: 1, OverrideMessageTimeoutIgnored: 1}, wantStream: 1,
		},
		{
			name:       "message timeout with failure_mode_allow",
			cfg:        Config{FailureModeAllow: true, MessageTimeout: 200 * time.Millisecond},
			script:     []action{recvOnly(kindRequestHeaders), sleepFor(waitLimit)},
			wantStatus: 200, wantUpBody: `{"model":"m"}`, want: Stats{MessageTimeouts: 1, FailureModeAllowed: 1}, wantStream: 1,
		},
		{
			name:       "non-OK close is status_on_error",
			script:     []action{recvOnly(kindRequestHeaders), closeWith(codes.Unavailable)},
			wantStatus: 500, want: Stats{StreamsFailed: 1}, wantStream: 1,
		},
		{
			name:       "non-OK close with status_on_error 503",
			cfg:        Config{StatusOnError: 503},
			script:     []action{recvOnly(kindRequestHeaders), closeWith(codes.Internal)},
			wantStatus: 503, want: Stats{StreamsFailed: 1}, wantStream: 1,
		},
		{
			name:       "non-OK close with failure_mode_allow",
			cfg:        Config{FailureModeAllow: true},
			script:     []action{recvOnly(kindRequestHeaders), closeWith(codes.Internal)},
			wantStatus: 200, wantUpBody: `{"model":"m"}`, want: Stats{StreamsFailed: 1, FailureModeAllowed: 1}, wantStream: 1,
		},
		{
			name:       "OK close continues unmodified",
			script:     []action{recvOnly(kindRequestHeaders), closeOK()},
			wantStatus: 200, wantUpBody: `{"model":"m"}`, wantStream: 1,
		},
		{
			name: "OK close in the response phase",
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(cr(withBody("changed"), withHM(hm([]string{"content-length"}))))),
				recvOnly(kindResponseHeaders), closeOK(),
			},
			wantStatus: 200, wantUpBody: "changed", wantStream: 1,
		},
		{
			name:       "unreachable server",
			noServer:   true,
			wantStatus: 500, want: Stats{StreamsFailed: 1},
		},
		{
			name:       "unreachable server with failure_mode_allow",
			cfg:        Config{FailureModeAllow: true},
			noServer:   true,
			wantStatus: 200, wantUpBody: `{"model":"m"}`, want: Stats{StreamsFailed: 1, FailureModeAllowed: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if tc.noServer {
				cfg.ExtProcAddr = closedAddr(t)
			}
			h := start(t, setup{cfg: cfg, scripts: [][]action{tc.script}})
			res := h.post(t, `{"model":"m"}`)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d (%v), want %d", res.status, res.err, tc.wantStatus)
			}
			if tc.wantStatus != 200 && res.body != "" {
				t.Errorf("error reply body = %q, want none", res.body)
			}
			if tc.wantStatus == 200 && res.body != `{"ok":true}` {
				t.Errorf("client body = %q, want the upstream's unmodified", res.body)
			}
			logs := h.fake.waitStreams(t, tc.wantStream)
			if tc.wantStream == 1 && tc.script[len(tc.script)-1].sleep > 0 && logs[0].endCode() != codes.Canceled {
				t.Errorf("timed-out stream ended with %v, want Canceled", logs[0].endCode())
			}
			reqs := h.ups["a"].requests()
			switch {
			case tc.wantUpBody == "" && len(reqs) != 0:
				t.Errorf("upstream was contacted")
			case tc.wantUpBody != "" && (len(reqs) != 1 || string(reqs[0].body) != tc.wantUpBody):
				t.Errorf("upstream got %v, want body %q", reqs, tc.wantUpBody)
			}
			st := h.proxy.Stats()
			got := Stats{
				MessageTimeouts: st.MessageTimeouts, StreamsFailed: st.StreamsFailed,
				FailureModeAllowed: st.FailureModeAllowed, OverrideMessageTimeoutIgnored: st.OverrideMessageTimeoutIgnored,
			}
			if got != tc.want {
				t.Errorf("stats = %+v, want %+v", got, tc.want)
			}
			if wantStarted := uint64(tc.wantStream); st.StreamsStarted != wantStarted {
				t.Errorf("streams_started = %d, want %d", st.StreamsStarted, wantStarted)
			}
		})
	}
}

// Checklist 12: the stream is reset right after the last answer Envoy
// expects, before the client has its response.
func TestStreamClosedAfterLastAnswer(t *testing.T) {
	var ended <-chan struct{}
	respSkip := &extprocfilterv3.ProcessingMode{
		RequestBodyMode:    modeNone,
		ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP,
	}
	h := start(t, setup{
		cfg: Config{Mode: respSkip},
		upstream: func(w http.ResponseWriter, _ *http.Request) {
			// The ext_proc stream must already be over when the upstream runs.
			select {
			case <-ended:
				_, _ = w.Write([]byte("after"))
			case <-time.After(waitLimit):
				w.WriteHeader(http.StatusTeapot)
			}
		},
		scripts: [][]action{{on(kindRequestHeaders, reqHeadersAns(nil))}},
	})
	ended = h.fake.ended(0)
	res := h.post(t, `{"model":"m"}`)
	if res.status != 200 || res.body != "after" {
		t.Fatalf("client got %d %q; the stream was not closed after the request_headers answer", res.status, res.body)
	}
	logs := h.fake.waitStreams(t, 1)
	if code := logs[0].endCode(); code != codes.Canceled {
		t.Errorf("stream ended with %v, want Canceled", code)
	}
}
