package standin

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
)

// Checklist 1: what a headers message looks like.
func TestRequestHeadersMessage(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		body      string
		hdr       []string
		wantEOS   bool
		wantKinds []string
		wantID    string
		wantCL    []string
		wantMulti []string
	}{
		{
			name: "post with body", method: http.MethodPost, body: `{"model":"m"}`,
			hdr:     []string{"X-Multi", "one", "X-Multi", "two", "X-Mixed-Case", "v"},
			wantEOS: false, wantKinds: fullKinds(), wantID: "generated-id", wantCL: []string{"13"},
			wantMulti: []string{"one", "two"},
		},
		{
			name: "get has no body", method: http.MethodGet,
			wantEOS: true, wantKinds: []string{"request_headers", "response_headers", "response_body"}, wantID: "generated-id",
		},
		{
			name: "client x-request-id is kept", method: http.MethodPost, body: "x", hdr: []string{"X-Request-Id", "client-id"},
			wantEOS: false, wantKinds: fullKinds(), wantID: "client-id", wantCL: []string{"1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{scripts: [][]action{passAll()}})
			res := h.do(t, h.newReq(t, tc.method, "/v1/chat/completions?stream=1", tc.body, append([]string{clusterHeader, "a"}, tc.hdr...)...))
			if res.err != nil || res.status != http.StatusOK || res.body != `{"ok":true}` {
				t.Fatalf("client got %d %q (%v), want 200 from the upstream", res.status, res.body, res.err)
			}
			logs := h.fake.waitStreams(t, 1)
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Fatalf("messages = %v, want %v", got, tc.wantKinds)
			}
			msgs := logs[0].messages()
			rh := msgs[0].GetRequestHeaders()
			if rh.GetEndOfStream() != tc.wantEOS {
				t.Errorf("end_of_stream = %v, want %v", rh.GetEndOfStream(), tc.wantEOS)
			}
			pc := msgs[0].GetProtocolConfig()
			if pc.GetRequestBodyMode() != modeBuffered || pc.GetResponseBodyMode() != modeBuffered || pc.GetSendBodyWithoutWaitingForHeaderResponse() {
				t.Errorf("protocol_config = %v, want BUFFERED/BUFFERED/false", pc)
			}
			for i, m := range msgs {
				if i > 0 && m.GetProtocolConfig() != nil {
					t.Errorf("message %d carries protocol_config; only the first may", i)
				}
				if m.GetMetadataContext() == nil {
					t.Errorf("message %d has no metadata_context", i)
				}
			}
			ps := pairs(t, rh.GetHeaders())
			wantPseudo := [][2]string{
				{":authority", h.front.Listener.Addr().String()},
				{":path", "/v1/chat/completions?stream=1"},
				{":method", tc.method},
				{":scheme", "http"},
			}
			for i, w := range wantPseudo {
				if i >= len(ps) || ps[i] != w {
					t.Fatalf("headers start %v, want pseudo-headers %v", ps, wantPseudo)
				}
			}
			checks := map[string][]string{
				"x-request-id":      {tc.wantID},
				"content-length":    tc.wantCL,
				"x-forwarded-proto": {"http"},
				"x-multi":           tc.wantMulti,
				"host":              nil,
				"x-cluster":         {"a"},
			}
			for k, want := range checks {
				if got := values(ps, k); !equalStrings(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tc.hdr != nil && tc.wantMulti != nil && !equalStrings(values(ps, "x-mixed-case"), []string{"v"}) {
				t.Errorf("x-mixed-case not sent lower-cased: %v", ps)
			}
			// The upstream got the same id Envoy generated.
			if got := h.ups["a"].requests()[0].header.Get("X-Request-Id"); got != tc.wantID {
				t.Errorf("upstream x-request-id = %q, want %q", got, tc.wantID)
			}
			if got := logs[0].endCode(); got != codes.Canceled {
				t.Errorf("server saw the stream end with %v, want Canceled", got)
			}
		})
	}
}

// Checklist 2: exactly one answer of the exact type per message.
func TestAnswerTypes(t *testing.T) {
	arrived := func() chan struct{} { return make(chan struct{}) }
	tests := []struct {
		name       string
		failOpen   bool
		onError    int
		method     string
		script     func(upArrived chan struct{}) []action
		upstream   func(upArrived chan struct{}) http.HandlerFunc
		wantStatus int
		wantUp     int // upstream calls; -1 = do not check
		wantKinds  []string
		wantFMA    uint64
	}{
		{
			name: "body answer to request_headers", method: http.MethodPost,
			script:     func(chan struct{}) []action { return []action{on(kindRequestHeaders, reqBodyAns(nil))} },
			wantStatus: 500, wantUp: 0, wantKinds: []string{"request_headers"},
		},
		{
			name: "no oneof set", method: http.MethodPost,
			script:     func(chan struct{}) []action { return []action{on(kindRequestHeaders, &extprocv3.ProcessingResponse{})} },
			wantStatus: 500, wantUp: 0, wantKinds: []string{"request_headers"},
		},
		{
			name: "response_headers answer in the request phase", method: http.MethodPost,
			script:     func(chan struct{}) []action { return []action{on(kindRequestHeaders, respHeadersAns(nil))} },
			wantStatus: 500, wantUp: 0, wantKinds: []string{"request_headers"},
		},
		{
			name: "trailers answer", method: http.MethodPost,
			script: func(chan struct{}) []action {
				return []action{on(kindRequestHeaders, &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}}})}
			},
			wantStatus: 500, wantUp: 0, wantKinds: []string{"request_headers"},
		},
		{
			name: "second answer to request_headers", method: http.MethodPost,
			script: func(chan struct{}) []action {
				return []action{on(kindRequestHeaders, reqHeadersAns(nil)), reply(reqHeadersAns(nil))}
			},
			wantStatus: 500, wantUp: 0, wantKinds: []string{"request_headers", "request_body"},
		},
		{
			name: "unasked answer while the upstream works", method: http.MethodGet,
			script: func(up chan struct{}) []action {
				return []action{on(kindRequestHeaders, reqHeadersAns(nil)), waitFor(up), reply(reqBodyAns(nil))}
			},
			upstream: func(up chan struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					close(up)
					<-r.Context().Done() // the stand-in aborts the upstream request
				}
			},
			wantStatus: 500, wantUp: 1, wantKinds: []string{"request_headers"},
		},
		{
			name: "status_on_error is used", method: http.MethodPost, onError: 503,
			script:     func(chan struct{}) []action { return []action{on(kindRequestHeaders, reqBodyAns(nil))} },
			wantStatus: 503, wantUp: 0, wantKinds: []string{"request_headers"},
		},
		{
			name: "failure_mode_allow continues unmodified", method: http.MethodPost, failOpen: true,
			script: func(chan struct{}) []action {
				return []action{on(kindRequestHeaders, reqBodyAns(cr(withBody("changed"))))}
			},
			wantStatus: 200, wantUp: 1, wantKinds: []string{"request_headers"}, wantFMA: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := arrived()
			s := setup{
				cfg:     Config{FailureModeAllow: tc.failOpen, StatusOnError: tc.onError},
				scripts: [][]action{tc.script(up)},
			}
			if tc.upstream != nil {
				s.upstream = tc.upstream(up)
			}
			h := start(t, s)
			body := ""
			if tc.method == http.MethodPost {
				body = `{"model":"m"}`
			}
			res := h.do(t, h.newReq(t, tc.method, "/v1/chat/completions", body, clusterHeader, "a"))
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d (%v), want %d", res.status, res.err, tc.wantStatus)
			}
			if tc.wantStatus >= 500 && (res.body != "" || res.header.Get("Content-Type") != "") {
				t.Errorf("error reply has body %q, content-type %q; Envoy's has neither", res.body, res.header.Get("Content-Type"))
			}
			logs := h.fake.waitStreams(t, 1)
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Errorf("messages = %v, want %v", got, tc.wantKinds)
			}
			reqs := h.ups["a"].requests()
			if tc.wantUp >= 0 && len(reqs) != tc.wantUp {
				t.Errorf("upstream calls = %d, want %d", len(reqs), tc.wantUp)
			}
			if tc.failOpen && len(reqs) == 1 && string(reqs[0].body) != body {
				t.Errorf("upstream body = %q, want the original %q", reqs[0].body, body)
			}
			st := h.proxy.Stats()
			if st.SpuriousMsgsReceived != 1 || st.FailureModeAllowed != tc.wantFMA {
				t.Errorf("stats = %+v, want 1 spurious, %d failure_mode_allowed", st, tc.wantFMA)
			}
		})
	}
}

// Checklist 3: a BUFFERED request body is one message after the headers answer.
func TestRequestBodyBuffered(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		chunked    bool
		limit      int
		wantStatus int
		wantKinds  []string
		wantUp     int
	}{
		{name: "one message with the whole body", body: strings.Repeat("abc", 10000), wantStatus: 200, wantKinds: fullKinds(), wantUp: 1},
		{name: "chunked client body", body: strings.Repeat("xyz", 10000), chunked: true, wantStatus: 200, wantKinds: fullKinds(), wantUp: 1},
		// The limit also bounds the buffered 413 reply itself (17 bytes).
		{name: "exactly at the limit", body: "0123456789abcdefghij", limit: 20, wantStatus: 200, wantKinds: fullKinds(), wantUp: 1},
		{
			name: "over the limit is Envoy's 413", body: "0123456789abcdefghijk", limit: 20, wantStatus: 413,
			wantKinds: []string{"request_headers", "response_headers", "response_body"}, wantUp: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: Config{BufferLimitBytes: tc.limit}, scripts: [][]action{passAll()}})
			req := h.newReq(t, http.MethodPost, "/v1/chat/completions", "", clusterHeader, "a")
			if tc.chunked {
				req.Body = io.NopCloser(strings.NewReader(tc.body)) // unknown length: chunked
				req.ContentLength = -1
			} else {
				req.Body = io.NopCloser(strings.NewReader(tc.body))
				req.ContentLength = int64(len(tc.body))
			}
			res := h.do(t, req)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d (%v), want %d", res.status, res.err, tc.wantStatus)
			}
			logs := h.fake.waitStreams(t, 1)
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Fatalf("messages = %v, want %v", got, tc.wantKinds)
			}
			msgs := logs[0].messages()
			if got := len(h.ups["a"].requests()); got != tc.wantUp {
				t.Errorf("upstream calls = %d, want %d", got, tc.wantUp)
			}
			if tc.wantStatus == 413 {
				if res.body != "Payload Too Large" || res.header.Get("Content-Type") != "text/plain" || res.header.Get("Content-Length") != "17" {
					t.Errorf("413 reply = %q %v", res.body, res.header)
				}
				// Envoy's own 413 goes through ext_proc's response path.
				if got := values(pairs(t, msgs[1].GetResponseHeaders().GetHeaders()), ":status"); !equalStrings(got, []string{"413"}) {
					t.Errorf("response_headers :status = %v, want 413", got)
				}
				if got := string(msgs[2].GetResponseBody().GetBody()); got != "Payload Too Large" {
					t.Errorf("response_body = %q", got)
				}
				return
			}
			rb := msgs[1].GetRequestBody()
			if string(rb.GetBody()) != tc.body || !rb.GetEndOfStream() {
				t.Errorf("request_body: %d bytes, eos=%v; want the whole %d-byte body, eos=true", len(rb.GetBody()), rb.GetEndOfStream(), len(tc.body))
			}
			if got := string(h.ups["a"].requests()[0].body); got != tc.body {
				t.Errorf("upstream body differs: %d bytes, want %d", len(got), len(tc.body))
			}
		})
	}
}

// Checklist 4: STREAMED request chunks are pipelined and answered FIFO.
func TestStreamedRequestBody(t *testing.T) {
	got1 := make(chan struct{})
	mode := &extprocfilterv3.ProcessingMode{
		RequestBodyMode:  modeStreamed,
		ResponseBodyMode: modeNone,
	}
	answer := func(i int, m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
		// A header mutation in a STREAMED body answer must be ignored.
		return reqBodyAns(cr(withBody(fmt.Sprintf("<%d:%s>", i, bodyOf(m).GetBody())), withHM(hm(nil, setRaw("x-from-body", "1")))))
	}
	seen := func(i int, _ *extprocv3.ProcessingRequest) {
		if i == 0 {
			close(got1)
		}
	}
	h := start(t, setup{
		cfg: Config{Mode: mode},
		scripts: [][]action{{
			on(kindRequestHeaders, reqHeadersAns(nil)),
			{pipelined: kindRequestBody, answer: answer, seen: seen},
			on(kindResponseHeaders, respHeadersAns(nil)),
		}},
	})
	pr, pw := io.Pipe()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		_, _ = io.WriteString(pw, "part-one|")
		// Pipelining: the stand-in sent chunk 1 and waits for no answer.
		select {
		case <-got1:
		case <-time.After(waitLimit):
		}
		_, _ = io.WriteString(pw, "part-two")
		_ = pw.Close()
	}()
	req := h.newReq(t, http.MethodPost, "/v1/chat/completions", "", clusterHeader, "a")
	req.Body = pr
	req.ContentLength = -1
	res := h.do(t, req)
	<-writerDone
	if res.status != http.StatusOK {
		t.Fatalf("status = %d (%v), want 200", res.status, res.err)
	}
	logs := h.fake.waitStreams(t, 1)
	msgs := logs[0].messages()
	var bodies []string
	var sent strings.Builder
	want := ""
	for _, m := range msgs {
		if kindOf(m) != kindRequestBody {
			continue
		}
		b := bodyOf(m)
		if b.GetEndOfStream() != (len(bodies) == countKind(msgs, kindRequestBody)-1) {
			t.Errorf("chunk %d end_of_stream = %v", len(bodies), b.GetEndOfStream())
		}
		want += fmt.Sprintf("<%d:%s>", len(bodies), b.GetBody())
		sent.Write(b.GetBody())
		bodies = append(bodies, string(b.GetBody()))
	}
	if len(bodies) < 2 {
		t.Fatalf("request_body messages = %q, want at least two", bodies)
	}
	if sent.String() != "part-one|part-two" {
		t.Errorf("chunks = %q, want them to add up to the body", bodies)
	}
	up := h.ups["a"].requests()[0]
	if string(up.body) != want {
		t.Errorf("upstream body = %q, want the answers in FIFO order %q", up.body, want)
	}
	if up.header.Get("X-From-Body") != "" {
		t.Errorf("header mutation of a STREAMED body answer was applied")
	}
	if pc := msgs[0].GetProtocolConfig(); pc.GetRequestBodyMode() != modeStreamed || pc.GetResponseBodyMode() != modeNone {
		t.Errorf("protocol_config = %v", pc)
	}
}

func countKind(msgs []*extprocv3.ProcessingRequest, k msgKind) int {
	n := 0
	for _, m := range msgs {
		if kindOf(m) == k {
			n++
		}
	}
	return n
}
