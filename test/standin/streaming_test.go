package standin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
)

func streamedResponseMode() *extprocfilterv3.ProcessingMode {
	return &extprocfilterv3.ProcessingMode{RequestBodyMode: modeBuffered, ResponseBodyMode: modeStreamed}
}

// sseUpstream writes each event and flushes; before event i > 0 it waits on
// gates[i-1]. withLength sends a Content-Length for the whole stream.
func sseUpstream(events []string, withLength bool, gates ...<-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		if withLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(strings.Join(events, ""))))
		}
		f, _ := w.(http.Flusher)
		for i, ev := range events {
			if i > 0 && i-1 < len(gates) {
				select {
				case <-gates[i-1]:
				case <-time.After(waitLimit):
					return
				}
			}
			_, _ = io.WriteString(w, ev)
			f.Flush()
		}
	}
}

// Checklist 4 (response side): chunks are sent without waiting, the answers
// apply FIFO, and Content-Length does not survive STREAMED mode.
func TestStreamedResponsePipelined(t *testing.T) {
	// Event boundaries fall inside chunks, as they do on the wire.
	events := []string{"data: {\"n\":1}\n", "\ndata: [DO", "NE]\n\n"}
	for _, withLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", withLength), func(t *testing.T) {
			gate1, gate2 := make(chan struct{}), make(chan struct{})
			// The upstream writes chunk i+1 only once the server holds chunk i
			// unanswered, so only a pipelining Envoy gets through.
			seen := func(i int, _ *extprocv3.ProcessingRequest) {
				switch i {
				case 0:
					close(gate1)
				case 1:
					close(gate2)
				}
			}
			answer := func(i int, m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
				return respBodyAns(cr(withBody(fmt.Sprintf("<%d:%s>", i, bodyOf(m).GetBody()))))
			}
			h := start(t, setup{
				cfg:      Config{Mode: streamedResponseMode()},
				upstream: sseUpstream(events, withLength, gate1, gate2),
				scripts: [][]action{{
					on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
					on(kindResponseHeaders, respHeadersAns(nil)),
					{pipelined: kindResponseBody, answer: answer, seen: seen},
				}},
			})
			res := h.post(t, `{"model":"m","stream":true}`)
			if res.err != nil || res.status != 200 {
				t.Fatalf("client got %d (%v)", res.status, res.err)
			}
			logs := h.fake.waitStreams(t, 1)
			msgs := logs[0].messages()
			var want strings.Builder
			var joined bytes.Buffer
			n := 0
			for _, m := range msgs {
				if kindOf(m) != kindResponseBody {
					continue
				}
				fmt.Fprintf(&want, "<%d:%s>", n, bodyOf(m).GetBody())
				joined.Write(bodyOf(m).GetBody())
				n++
			}
			if n < len(events) {
				t.Fatalf("response_body messages = %d, want at least %d (one per upstream write)", n, len(events))
			}
			if joined.String() != strings.Join(events, "") {
				t.Errorf("chunks add up to %q", joined.String())
			}
			if !bodyOf(msgs[len(msgs)-1]).GetEndOfStream() {
				t.Errorf("last chunk lacks end_of_stream")
			}
			if res.body != want.String() {
				t.Errorf("client body = %q, want the answers in order %q", res.body, want.String())
			}
			rh := pairs(t, msgs[2].GetResponseHeaders().GetHeaders())
			if res.header.Get("Content-Length") != "" || res.header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("client headers = %v", res.header)
			}
			wantCL := []string(nil)
			if withLength {
				// Sent to the server, removed right after.
				wantCL = []string{strconv.Itoa(joined.Len())}
			}
			if got := values(rh, "content-length"); !equalStrings(got, wantCL) {
				t.Errorf("response_headers content-length = %v, want %v", got, wantCL)
			}
			if code := logs[0].endCode(); code != codes.Canceled {
				t.Errorf("stream ended with %v, want Canceled after the last chunk's answer", code)
			}
		})
	}
}

// Each answered chunk reaches the client at once (flushed), before the
// upstream has finished.
func TestStreamedResponseFlushes(t *testing.T) {
	clientGotFirst := make(chan struct{})
	h := start(t, setup{
		cfg:      Config{Mode: streamedResponseMode()},
		upstream: sseUpstream([]string{"first|", "second"}, false, clientGotFirst),
		scripts:  [][]action{passAll()},
	})
	resp, err := h.client.Do(h.newReq(t, http.MethodPost, "/v1/chat/completions", `{"stream":true}`, clusterHeader, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.TransferEncoding == nil || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer-encoding = %v, want chunked", resp.TransferEncoding)
	}
	buf := make([]byte, len("first|"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first|" {
		t.Fatalf("first read = %q (%v)", buf, err)
	}
	close(clientGotFirst)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Errorf("rest = %q (%v)", rest, err)
	}
	h.fake.waitStreams(t, 1)
}

// A buffered response over the buffer limit is Envoy's 500, sent straight
// to the client.
func TestBufferedResponseOverLimit(t *testing.T) {
	h := start(t, setup{
		cfg: Config{BufferLimitBytes: 1000},
		upstream: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("x"), 2000))
		},
		scripts: [][]action{passAll()},
	})
	res := h.post(t, `{"model":"m"}`)
	if res.status != 500 || res.body != "Internal Server Error" || res.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("client got %d %q %v", res.status, res.body, res.header)
	}
	logs := h.fake.waitStreams(t, 1)
	if got := logs[0].kinds(); !equalStrings(got, []string{"request_headers", "request_body", "response_headers"}) {
		t.Errorf("messages = %v", got)
	}
}

func TestNew(t *testing.T) {
	mode := func(req, resp extprocfilterv3.ProcessingMode_BodySendMode) *extprocfilterv3.ProcessingMode {
		return &extprocfilterv3.ProcessingMode{RequestBodyMode: req, ResponseBodyMode: resp}
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "ok", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", Clusters: map[string]string{"a": "http://127.0.0.1:2"}}},
		{name: "unix target", cfg: Config{ExtProcAddr: "unix:/tmp/none.sock", ClusterHeader: "x"}},
		{name: "no address", cfg: Config{ClusterHeader: "x"}, wantErr: "ExtProcAddr"},
		{name: "no cluster header", cfg: Config{ExtProcAddr: "127.0.0.1:1"}, wantErr: "ClusterHeader"},
		{name: "buffered partial", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", Mode: mode(extprocfilterv3.ProcessingMode_BUFFERED_PARTIAL, modeNone)}, wantErr: "unsupported"},
		{name: "full duplex", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", Mode: mode(modeNone, extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED)}, wantErr: "unsupported"},
		{name: "bad cluster URL", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", Clusters: map[string]string{"a": "127.0.0.1:2"}}, wantErr: "cluster"},
		{name: "unknown attribute", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", RequestAttributes: []string{"request.path"}}, wantErr: `"request.path" is unsupported`},
		{name: "negative trusted hops", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", XFFNumTrustedHops: -1}, wantErr: "XFFNumTrustedHops"},
		{name: "bad local address", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", LocalAddress: "node-1"}, wantErr: "LocalAddress"},
		{name: "keepalive without timeout", cfg: Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: "x", KeepaliveInterval: time.Second}, wantErr: "KeepaliveTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				// Envoy's defaults.
				if p.cfg.MessageTimeout != 200*time.Millisecond || p.cfg.StatusOnError != 500 || p.cfg.BufferLimitBytes != 1<<20 {
					t.Errorf("defaults = %v, %d, %d", p.cfg.MessageTimeout, p.cfg.StatusOnError, p.cfg.BufferLimitBytes)
				}
				if m := p.mode; m.GetRequestBodyMode() != modeBuffered || m.GetResponseBodyMode() != modeBuffered {
					t.Errorf("default mode = %v, want BUFFERED both ways", m)
				}
				if p.cfg.InitialStreamWindowSize != 256<<20 || p.cfg.InitialConnectionWindowSize != 256<<20 || p.cfg.KeepaliveInterval != 0 {
					t.Errorf("HTTP/2 defaults = %d/%d, keepalive %v", p.cfg.InitialStreamWindowSize, p.cfg.InitialConnectionWindowSize, p.cfg.KeepaliveInterval)
				}
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
