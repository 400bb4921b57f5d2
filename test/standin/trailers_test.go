package standin

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

const trailedBody = `{"model":"m"}`

// chunkedReq is an HTTP/1.1 chunked POST to cluster a whose trailer section
// carries x-checksum: abc.
func chunkedReq(t *testing.T, h *harness) *http.Request {
	t.Helper()
	req := h.newReq(t, http.MethodPost, "/v1/chat/completions", trailedBody, clusterHeader, "a")
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": {"abc"}}
	return req
}

// h2cClient speaks HTTP/2 without TLS, as a client of Envoy's codec_type AUTO may.
func h2cClient() *http.Client {
	p := &http.Protocols{}
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

// rawDo writes a request by hand and reads the response.
func rawDo(t *testing.T, h *harness, raw string) result {
	t.Helper()
	conn, err := net.Dial("tcp", h.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

func withTrailerModes(req, resp extprocfilterv3.ProcessingMode_HeaderSendMode, reqBody, respBody bodyMode) *extprocfilterv3.ProcessingMode {
	return &extprocfilterv3.ProcessingMode{
		RequestHeaderMode: extprocfilterv3.ProcessingMode_SEND, RequestBodyMode: reqBody, RequestTrailerMode: req,
		ResponseHeaderMode: extprocfilterv3.ProcessingMode_SEND, ResponseBodyMode: respBody, ResponseTrailerMode: resp,
	}
}

// requestBodyMsgs returns the request_body messages and the request_trailers
// message (nil if none) of a stream.
func requestBodyMsgs(msgs []*extprocv3.ProcessingRequest) ([]*extprocv3.HttpBody, *extprocv3.HttpTrailers) {
	var bodies []*extprocv3.HttpBody
	var tr *extprocv3.HttpTrailers
	for _, m := range msgs {
		if b := m.GetRequestBody(); b != nil {
			bodies = append(bodies, b)
		}
		if m.GetRequestTrailers() != nil {
			tr = m.GetRequestTrailers()
		}
	}
	return bodies, tr
}

// Checklist 16: request trailers end a buffered body early.
func TestRequestTrailers(t *testing.T) {
	send, skip := extprocfilterv3.ProcessingMode_SEND, extprocfilterv3.ProcessingMode_SKIP
	checksum := [][2]string{{"x-checksum", "abc"}}
	tests := []struct {
		name       string
		cfg        Config
		h2c        bool
		script     []action
		do         func(t *testing.T, h *harness) result
		wantStatus int
		wantKinds  []string
		wantEOS    []bool      // end_of_stream of each request_body message
		wantTr     [][2]string // the request_trailers message's headers; nil: no message
	}{
		{
			name:   "HTTP/1 trailers are dropped without enable_trailers",
			script: passAll(),
			do:     func(t *testing.T, h *harness) result { return h.do(t, chunkedReq(t, h)) },
			// Envoy's HTTP/1 codec never hands them to the filter chain.
			wantStatus: 200, wantKinds: fullKinds(), wantEOS: []bool{true},
		},
		{
			name:       "trailer mode SKIP: the body goes with end_of_stream false and nothing follows",
			cfg:        Config{HTTP1Trailers: true},
			script:     passAll(),
			do:         func(t *testing.T, h *harness) result { return h.do(t, chunkedReq(t, h)) },
			wantStatus: 200, wantKinds: fullKinds(), wantEOS: []bool{false},
		},
		{
			name:       "trailer mode SEND: the trailers follow the body's answer",
			cfg:        Config{HTTP1Trailers: true, Mode: withTrailerModes(send, skip, modeBuffered, modeBuffered)},
			script:     passAll(),
			do:         func(t *testing.T, h *harness) result { return h.do(t, chunkedReq(t, h)) },
			wantStatus: 200,
			wantKinds:  []string{"request_headers", "request_body", "request_trailers", "response_headers", "response_body"},
			wantEOS:    []bool{false}, wantTr: checksum,
		},
		{
			name: "trailers wait for the body's answer, which may end processing",
			cfg:  Config{HTTP1Trailers: true, Mode: withTrailerModes(send, skip, modeBuffered, modeBuffered)},
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)),
				on(kindRequestBody, immediate(403, "no", nil)),
			},
			do:         func(t *testing.T, h *harness) result { return h.do(t, chunkedReq(t, h)) },
			wantStatus: 403, wantKinds: []string{"request_headers", "request_body"}, wantEOS: []bool{false},
		},
		{
			name: "an HTTP/2 client's trailers always reach the filter",
			h2c:  true, script: passAll(),
			do: func(t *testing.T, h *harness) result {
				h.client = h2cClient()
				req := h.newReq(t, http.MethodPost, "/v1/chat/completions", trailedBody, clusterHeader, "a")
				req.Trailer = http.Header{"X-Checksum": {"abc"}}
				return h.do(t, req)
			},
			wantStatus: 200, wantKinds: fullKinds(), wantEOS: []bool{false},
		},
		{
			name:   "trailers and no data: no body message at all",
			cfg:    Config{HTTP1Trailers: true, Mode: withTrailerModes(send, skip, modeBuffered, modeBuffered)},
			script: passAll(),
			do: func(t *testing.T, h *harness) result {
				return rawDo(t, h, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Cluster: a\r\n"+
					"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\nX-Checksum: abc\r\n\r\n")
			},
			wantStatus: 200,
			wantKinds:  []string{"request_headers", "request_trailers", "response_headers", "response_body"},
			wantTr:     checksum,
		},
		{
			name:       "STREAMED: no chunk carries end_of_stream, the trailers close the body",
			cfg:        Config{HTTP1Trailers: true, Mode: withTrailerModes(send, skip, modeStreamed, modeBuffered)},
			script:     passAll(),
			do:         func(t *testing.T, h *harness) result { return h.do(t, chunkedReq(t, h)) },
			wantStatus: 200,
			wantKinds:  []string{"request_headers", "request_body", "request_trailers", "response_headers", "response_body"},
			wantEOS:    []bool{false}, wantTr: checksum,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: tc.cfg, h2c: tc.h2c, scripts: [][]action{tc.script}})
			res := tc.do(t, h)
			if res.err != nil || res.status != tc.wantStatus {
				t.Fatalf("client got %d %q (%v), want %d", res.status, res.body, res.err, tc.wantStatus)
			}
			logs := h.fake.waitStreams(t, 1)
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Fatalf("messages = %v, want %v", got, tc.wantKinds)
			}
			bodies, tr := requestBodyMsgs(logs[0].messages())
			if len(bodies) != len(tc.wantEOS) {
				t.Fatalf("%d request_body messages, want %d", len(bodies), len(tc.wantEOS))
			}
			var sent strings.Builder
			for i, b := range bodies {
				sent.Write(b.GetBody())
				if b.GetEndOfStream() != tc.wantEOS[i] {
					t.Errorf("request_body %d: end_of_stream = %v, want %v", i, b.GetEndOfStream(), tc.wantEOS[i])
				}
			}
			if len(bodies) > 0 && sent.String() != trailedBody {
				t.Errorf("request_body bytes = %q, want %q", sent.String(), trailedBody)
			}
			if tc.wantTr == nil {
				if tr != nil {
					t.Errorf("request_trailers sent: %v", tr)
				}
				return
			}
			if got := pairs(t, tr.GetTrailers()); len(got) != len(tc.wantTr) || got[0] != tc.wantTr[0] {
				t.Errorf("request_trailers = %v, want %v", got, tc.wantTr)
			}
		})
	}
}

// trailingUpstream answers with a chunked body followed by x-usage: 42.
func trailingUpstream(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Trailer", "X-Usage")
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":`)
	w.(http.Flusher).Flush()
	_, _ = io.WriteString(w, `true}`)
	w.Header().Set("X-Usage", "42")
}

// Checklist 16, response side: upstream trailers end a buffered response body early.
func TestResponseTrailers(t *testing.T) {
	send, skip := extprocfilterv3.ProcessingMode_SEND, extprocfilterv3.ProcessingMode_SKIP
	tests := []struct {
		name      string
		cfg       Config
		wantKinds []string // runs of response_body messages count as one
		wantEOS   bool     // of every response_body message
		wantTr    bool
	}{
		{
			name:      "an HTTP/1 upstream's trailers are dropped without enable_trailers",
			wantKinds: fullKinds(), wantEOS: true,
		},
		{
			name:      "trailer mode SKIP: the body goes with end_of_stream false and nothing follows",
			cfg:       Config{HTTP1Trailers: true},
			wantKinds: fullKinds(), wantEOS: false,
		},
		{
			name:      "trailer mode SEND: the trailers follow the body's answer",
			cfg:       Config{HTTP1Trailers: true, Mode: withTrailerModes(skip, send, modeBuffered, modeBuffered)},
			wantKinds: append(fullKinds(), "response_trailers"), wantEOS: false, wantTr: true,
		},
		{
			name:      "STREAMED: no chunk carries end_of_stream, the trailers close the body",
			cfg:       Config{HTTP1Trailers: true, Mode: withTrailerModes(skip, send, modeBuffered, modeStreamed)},
			wantKinds: append(fullKinds(), "response_trailers"),
			wantEOS:   false, wantTr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: tc.cfg, upstream: trailingUpstream, scripts: [][]action{passAll()}})
			res := h.post(t, trailedBody)
			if res.err != nil || res.status != 200 || res.body != `{"ok":true}` {
				t.Fatalf("client got %d %q (%v)", res.status, res.body, res.err)
			}
			logs := h.fake.waitStreams(t, 1)
			// How many reads the upstream body takes is up to the network.
			if got := squeeze(logs[0].kinds()); !equalStrings(got, tc.wantKinds) {
				t.Fatalf("messages = %v, want %v", got, tc.wantKinds)
			}
			var body strings.Builder
			for _, m := range logs[0].messages() {
				if b := m.GetResponseBody(); b != nil {
					body.Write(b.GetBody())
					if b.GetEndOfStream() != tc.wantEOS {
						t.Errorf("response_body %q: end_of_stream = %v, want %v", b.GetBody(), b.GetEndOfStream(), tc.wantEOS)
					}
				}
				if tr := m.GetResponseTrailers(); tr != nil {
					if got := pairs(t, tr.GetTrailers()); len(got) != 1 || got[0] != [2]string{"x-usage", "42"} {
						t.Errorf("response_trailers = %v, want x-usage: 42", got)
					}
				}
			}
			if body.String() != `{"ok":true}` {
				t.Errorf("response_body bytes = %q", body.String())
			}
		})
	}
}

// squeeze collapses runs of the same message kind into one.
func squeeze(kinds []string) []string {
	var out []string
	for _, k := range kinds {
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

// A server that reads end_of_stream false as "more to come" never answers;
// Envoy's message timer then fails the request with 504, on either path.
func TestTrailersUnansweredBodyTimesOut(t *testing.T) {
	tests := []struct {
		name      string
		cfg       func() Config
		upstream  http.HandlerFunc
		h2c       bool
		script    []action
		do        func(t *testing.T, h *harness) result
		wantKinds []string
		wantUp    int // requests that reached the upstream
	}{
		{
			// The project's configuration, with a client that can send trailers.
			name: "request: an HTTP/2 client's trailers with envoy.yaml's settings",
			cfg: func() Config {
				c := ProjectConfig("", nil)
				c.MessageTimeout = 200 * time.Millisecond
				return c
			},
			h2c:    true,
			script: []action{on(kindRequestHeaders, reqHeadersAns(nil)), recvOnly(kindRequestBody)},
			do: func(t *testing.T, h *harness) result {
				h.client = h2cClient()
				req := h.newReq(t, http.MethodPost, "/v1/chat/completions", trailedBody, ProjectClusterHeader, "a")
				req.Trailer = http.Header{"X-Checksum": {"abc"}}
				return h.do(t, req)
			},
			wantKinds: []string{"request_headers", "request_body"},
		},
		{
			name:     "response: an upstream's trailers with enable_trailers",
			cfg:      func() Config { return Config{HTTP1Trailers: true, MessageTimeout: 200 * time.Millisecond} },
			upstream: trailingUpstream,
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, respHeadersAns(nil)), recvOnly(kindResponseBody),
			},
			do:        func(t *testing.T, h *harness) result { return h.post(t, trailedBody) },
			wantKinds: fullKinds(), wantUp: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: tc.cfg(), upstream: tc.upstream, h2c: tc.h2c, scripts: [][]action{tc.script}})
			res := tc.do(t, h)
			if res.err != nil || res.status != http.StatusGatewayTimeout || res.body != "" {
				t.Fatalf("client got %d %q (%v), want Envoy's bodiless 504", res.status, res.body, res.err)
			}
			logs := h.fake.waitStreams(t, 1)
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Fatalf("messages = %v, want %v", got, tc.wantKinds)
			}
			last := bodyOf(logs[0].messages()[len(tc.wantKinds)-1])
			if last.GetEndOfStream() || len(last.GetBody()) == 0 {
				t.Errorf("last body message: end_of_stream %v, %d bytes; want false and the body", last.GetEndOfStream(), len(last.GetBody()))
			}
			if st := h.proxy.Stats(); st.MessageTimeouts != 1 || st.StreamsFailed != 0 {
				t.Errorf("stats = %+v, want one message timeout and no stream failure", st)
			}
			up := len(h.ups["a"].requests()) + len(h.ups["b"].requests())
			if up != tc.wantUp {
				t.Errorf("upstream requests = %d, want %d", up, tc.wantUp)
			}
		})
	}
}
