package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// logSink is an access log writer that keeps every Write as it came and
// notices overlapping calls.
type logSink struct {
	mu      sync.Mutex
	writes  []string
	grew    chan struct{} // closed and replaced by every Write
	inWrite atomic.Int32
	overlap atomic.Bool
}

func newLogSink() *logSink { return &logSink{grew: make(chan struct{})} }

func (s *logSink) Write(p []byte) (int, error) {
	if s.inWrite.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.inWrite.Add(-1)
	// Widens the window in which an unserialised second writer would enter.
	runtime.Gosched()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, string(p))
	close(s.grew)
	s.grew = make(chan struct{})
	return len(p), nil
}

// wait returns the writes once there are n of them.
func (s *logSink) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		if len(s.writes) >= n {
			out := append([]string(nil), s.writes...)
			s.mu.Unlock()
			return out
		}
		grew := s.grew
		s.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("access log has %d lines after %s, want %d", len(s.writes), waitLimit, n)
		}
	}
}

// stepClock starts at start and moves by step on every reading.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(step)
		return now
	}
}

var logStart = time.Date(2025, 1, 2, 3, 4, 5, 678_900_000, time.UTC)

func withMetadata(t *testing.T, r *extprocv3.ProcessingResponse, md map[string]any) *extprocv3.ProcessingResponse {
	t.Helper()
	r.DynamicMetadata = mustStruct(t, md)
	return r
}

// loggingConfig is cfg with the project's access log format plus extra
// fields, written to a new sink, on a clock that reads 12.9 ms per request.
func loggingConfig(cfg Config, extra map[string]string) (Config, *logSink) {
	sink := newLogSink()
	format := ProjectAccessLogFormat()
	for k, v := range extra {
		format[k] = v
	}
	cfg.ReceivingNamespaces = []string{ProjectMetadataNamespace}
	cfg.AccessLog = sink
	cfg.AccessLogFormat = format
	cfg.Clock = stepClock(logStart, 12900*time.Microsecond)
	return cfg, sink
}

// Metadata from two answers is merged key by key into one line; types are
// kept, absent keys are null, a namespace not received is absent, and the
// path is the one ext_proc set.
func TestAccessLogMergedMetadata(t *testing.T) {
	cfg, sink := loggingConfig(Config{}, map[string]string{
		"cpen_all": "%DYNAMIC_METADATA(cpen)%",
		"other_ns": "%DYNAMIC_METADATA(other)%",
		"summary":  "%REQ(:METHOD)% in=%DYNAMIC_METADATA(cpen:input_tokens)% err=%DYNAMIC_METADATA(cpen:error_code)% 100%%",
	})
	script := []action{
		on(kindRequestHeaders, reqHeadersAns(nil)),
		on(kindRequestBody, withMetadata(t, reqBodyAns(cr(withHM(hm(nil, setRaw(":path", "/compat/v1/chat/completions"))))), map[string]any{
			"cpen": map[string]any{
				"route_id": "route_mid_01", "alias": "cpen/middle", "status": "pending",
				"reason_code": "cheapest_fit", "estimated_total_usd_per_1m": "0.18",
			},
			"other": map[string]any{"x": 1},
		})),
		on(kindResponseHeaders, respHeadersAns(nil)),
		on(kindResponseBody, withMetadata(t, respBodyAns(nil), map[string]any{
			"cpen": map[string]any{"status": "completed", "cost_usd": "0.000006", "input_tokens": 42, "output_tokens": 18, "processing_us": 1234},
		})),
	}
	h := start(t, setup{cfg: cfg, scripts: [][]action{script}})
	res := h.post(t, `{"model":"m"}`)
	if res.err != nil || res.status != http.StatusOK || res.body != `{"ok":true}` {
		t.Fatalf("client got %d %q (%v)", res.status, res.body, res.err)
	}
	if up := h.ups["a"].requests(); len(up) != 1 || up[0].path != "/compat/v1/chat/completions" {
		t.Fatalf("upstream requests %v, want one to the path ext_proc set", up)
	}
	want := `{"bytes_received":13,"bytes_sent":11,"cpen_alias":"cpen/middle",` +
		`"cpen_all":{"alias":"cpen/middle","cost_usd":"0.000006","estimated_total_usd_per_1m":"0.18","input_tokens":42,"output_tokens":18,"processing_us":1234,"reason_code":"cheapest_fit","route_id":"route_mid_01","status":"completed"},` +
		`"cpen_cost_usd":"0.000006","cpen_error_code":null,"cpen_estimated_total_usd_per_1m":"0.18",` +
		`"cpen_input_tokens":42,"cpen_output_tokens":18,"cpen_processing_us":1234,"cpen_reason_code":"cheapest_fit",` +
		`"cpen_route_id":"route_mid_01","cpen_status":"completed","duration_ms":12,"method":"POST","other_ns":null,` +
		`"path":"/compat/v1/chat/completions","request_id":"generated-id","response_code":200,"response_flags":"-",` +
		`"start_time":"2025-01-02T03:04:05.678Z","summary":"POST in=42 err=- 100%","upstream_cluster":"a"}` + "\n"
	lines := sink.wait(t, 1)
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("access log\n got %q\nwant %q", lines, want)
	}
	var fields map[string]any
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		t.Fatalf("the line is not JSON: %v", err)
	}
	if n, ok := fields["cpen_input_tokens"].(json.Number); !ok || n != "42" {
		t.Errorf("cpen_input_tokens = %#v, want the JSON number 42", fields["cpen_input_tokens"])
	}
	if s, ok := fields["cpen_cost_usd"].(string); !ok || s != "0.000006" {
		t.Errorf("cpen_cost_usd = %#v, want the string 0.000006", fields["cpen_cost_usd"])
	}
	h.fake.waitStreams(t, 1)
}

// A request the server refuses with an immediate response is logged with
// the reply's status and the metadata of that answer; no route named an
// existing cluster, so there is no upstream cluster.
func TestAccessLogImmediateResponse(t *testing.T) {
	cfg, sink := loggingConfig(Config{}, nil)
	const refusal = `{"error":{"code":"insufficient_credit"}}`
	script := []action{
		on(kindRequestHeaders, reqHeadersAns(nil)),
		on(kindRequestBody, withMetadata(t, immediate(402, refusal, hm(nil, setRaw("content-type", "application/json"))), map[string]any{
			"cpen": map[string]any{"alias": "cpen/middle", "status": "rejected", "error_code": "insufficient_credit", "processing_us": 87},
		})),
	}
	h := start(t, setup{cfg: cfg, scripts: [][]action{script}})
	res := h.do(t, h.newReq(t, http.MethodPost, "/v1/chat/completions", `{"model":"m"}`))
	if res.err != nil || res.status != http.StatusPaymentRequired || res.body != refusal {
		t.Fatalf("client got %d %q (%v)", res.status, res.body, res.err)
	}
	want := fmt.Sprintf(`{"bytes_received":13,"bytes_sent":%d,"cpen_alias":"cpen/middle","cpen_cost_usd":null,`+
		`"cpen_error_code":"insufficient_credit","cpen_estimated_total_usd_per_1m":null,"cpen_input_tokens":null,`+
		`"cpen_output_tokens":null,"cpen_processing_us":87,"cpen_reason_code":null,"cpen_route_id":null,`+
		`"cpen_status":"rejected","duration_ms":12,"method":"POST","path":"/v1/chat/completions",`+
		`"request_id":"generated-id","response_code":402,"response_flags":"-","start_time":"2025-01-02T03:04:05.678Z",`+
		`"upstream_cluster":null}`+"\n", len(refusal))
	if lines := sink.wait(t, 1); len(lines) != 1 || lines[0] != want {
		t.Fatalf("access log\n got %q\nwant %q", lines, want)
	}
	h.fake.waitStreams(t, 1)
}

// Two requests in flight together end together: two whole lines, written
// one at a time.
func TestAccessLogConcurrentRequests(t *testing.T) {
	cfg, sink := loggingConfig(Config{}, nil)
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	upstream := func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		select {
		case <-both:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
	h := start(t, setup{cfg: cfg, upstream: upstream, scripts: [][]action{passAll(), passAll()}})
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, path := range []string{"/v1/one", "/v1/two"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, h.front.URL+path, strings.NewReader(`{"model":"m"}`))
			if err != nil {
				results[i] = result{err: err}
				return
			}
			req.Header.Set(clusterHeader, "a")
			resp, err := h.client.Do(req)
			if err != nil {
				results[i] = result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			results[i] = result{status: resp.StatusCode, body: string(b), err: err}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("request %d: %d (%v)", i, r.status, r.err)
		}
	}
	lines := sink.wait(t, 2)
	if len(lines) != 2 {
		t.Fatalf("access log has %d writes, want 2: %q", len(lines), lines)
	}
	if sink.overlap.Load() {
		t.Error("two Write calls overlapped")
	}
	paths := map[string]bool{}
	for _, l := range lines {
		if !strings.HasSuffix(l, "}\n") || strings.Count(l, "\n") != 1 {
			t.Fatalf("write %q is not one whole line", l)
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(l), &fields); err != nil {
			t.Fatalf("write %q is not JSON: %v", l, err)
		}
		if fields["response_code"] != float64(200) || fields["upstream_cluster"] != "a" {
			t.Errorf("line %q", l)
		}
		paths[fmt.Sprint(fields["path"])] = true
	}
	if !paths["/v1/one"] || !paths["/v1/two"] {
		t.Errorf("paths logged %v, want /v1/one and /v1/two", paths)
	}
	h.fake.waitStreams(t, 2)
}

// Envoy's own outcomes: status, response flags, upstream cluster and bytes
// sent as the stream info holds them.
func TestAccessLogResponseFlags(t *testing.T) {
	format := map[string]string{
		"code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%", "cluster": "%UPSTREAM_CLUSTER%", "sent": "%BYTES_SENT%",
	}
	// halfBody sends its headers and 10 of 100 promised bytes, then drops
	// the connection.
	halfBody := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}
	tests := []struct {
		name      string
		cfg       Config
		upstream  http.HandlerFunc
		clientHdr []string
		wantCode  int
		wantErr   bool // the client sees a reset
		want      string
	}{
		{
			name: "a plain answer has no flag", clientHdr: []string{clusterHeader, "a"}, wantCode: 200,
			want: `{"cluster":"a","code":200,"flags":"-","sent":11}`,
		},
		{
			name: "connection refused: UF", cfg: Config{Clusters: map[string]string{"a": "http://" + closedAddr(t)}},
			clientHdr: []string{clusterHeader, "a"}, wantCode: 503,
			want: fmt.Sprintf(`{"cluster":"a","code":503,"flags":"UF","sent":%d}`, len("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused")),
		},
		{
			name: "no such cluster: NC and no upstream cluster", clientHdr: []string{clusterHeader, "nope"}, wantCode: 503,
			want: `{"cluster":null,"code":503,"flags":"NC","sent":0}`,
		},
		{
			name: "route timeout: UT", cfg: Config{RouteTimeout: 300 * time.Millisecond}, clientHdr: []string{clusterHeader, "a"},
			upstream: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(waitLimit):
				}
			},
			wantCode: 504, want: `{"cluster":"a","code":504,"flags":"UT","sent":24}`,
		},
		{
			name: "upstream gone mid-body, buffered: UC with the upstream's status and nothing sent", upstream: halfBody,
			clientHdr: []string{clusterHeader, "a"}, wantErr: true,
			want: `{"cluster":"a","code":200,"flags":"UC","sent":0}`,
		},
		{
			name:     "upstream gone mid-body, passed through: UC after the bytes that went out",
			cfg:      Config{Mode: &extprocfilterv3.ProcessingMode{RequestBodyMode: modeBuffered, ResponseBodyMode: modeNone}},
			upstream: halfBody, clientHdr: []string{clusterHeader, "a"}, wantErr: true,
			want: `{"cluster":"a","code":200,"flags":"UC","sent":10}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := newLogSink()
			cfg := tc.cfg
			cfg.AccessLog, cfg.AccessLogFormat = sink, format
			h := start(t, setup{cfg: cfg, upstream: tc.upstream, scripts: [][]action{passAll()}})
			res := h.do(t, h.newReq(t, http.MethodPost, "/v1/chat/completions", `{"model":"m"}`, tc.clientHdr...))
			if tc.wantErr != (res.err != nil) || (!tc.wantErr && res.status != tc.wantCode) {
				t.Fatalf("client got %d %q (%v), want %d (reset: %v)", res.status, res.body, res.err, tc.wantCode, tc.wantErr)
			}
			if lines := sink.wait(t, 1); len(lines) != 1 || lines[0] != tc.want+"\n" {
				t.Fatalf("access log %q, want %q", lines, tc.want)
			}
			h.fake.waitStreams(t, 1)
		})
	}
}

// A client that leaves before any answer: DC, and no status at all.
func TestAccessLogClientGone(t *testing.T) {
	sink := newLogSink()
	arrived := make(chan struct{})
	upstream := func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // the stand-in cancels it once the client is gone
	}
	cfg := Config{AccessLog: sink, AccessLogFormat: map[string]string{"code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%"}}
	h := start(t, setup{cfg: cfg, upstream: upstream, scripts: [][]action{passAll()}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := h.newReq(t, http.MethodPost, "/v1/chat/completions", `{"model":"m"}`, clusterHeader, "a").WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		resp, err := h.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-arrived:
	case <-time.After(waitLimit):
		t.Fatal("the request never reached the upstream")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want its own cancellation", err)
	}
	if lines := sink.wait(t, 1); len(lines) != 1 || lines[0] != `{"code":0,"flags":"DC"}`+"\n" {
		t.Fatalf("access log %q", lines)
	}
	h.fake.waitStreams(t, 1)
}

// With use_remote_address every request is an edge request: Envoy replaces
// the client's x-request-id, and the log (like ext_proc and the upstream)
// has Envoy's.
func TestAccessLogEdgeRequestID(t *testing.T) {
	sink := newLogSink()
	cfg := Config{UseRemoteAddress: true, AccessLog: sink, AccessLogFormat: map[string]string{"id": "%REQ(X-REQUEST-ID)%"}}
	h := start(t, setup{cfg: cfg, scripts: [][]action{passAll()}})
	if res := h.post(t, `{"model":"m"}`, "X-Request-Id", "client-chosen"); res.err != nil || res.status != http.StatusOK {
		t.Fatalf("client got %d (%v)", res.status, res.err)
	}
	if lines := sink.wait(t, 1); len(lines) != 1 || lines[0] != `{"id":"generated-id"}`+"\n" {
		t.Fatalf("access log %q", lines)
	}
	logs := h.fake.waitStreams(t, 1)
	if got := values(pairs(t, logs[0].messages()[0].GetRequestHeaders().GetHeaders()), "x-request-id"); !equalStrings(got, []string{"generated-id"}) {
		t.Errorf("ext_proc saw x-request-id %v, want Envoy's own", got)
	}
	if got := h.ups["a"].requests()[0].header.Get("X-Request-Id"); got != "generated-id" {
		t.Errorf("upstream x-request-id = %q, want Envoy's own", got)
	}
}

// A format the stand-in cannot honour stops New, naming the operator.
func TestAccessLogFormatRefused(t *testing.T) {
	tests := []struct {
		name, format string
		wantOperator string
		wantReason   string
	}{
		{name: "unknown operator", format: "%UPSTREAM_HOST%", wantOperator: "%UPSTREAM_HOST%", wantReason: "not implemented"},
		{name: "inside a longer template", format: "x %REQ(:PATH)% %FILTER_STATE(k)%", wantOperator: "%FILTER_STATE(k)%", wantReason: "not implemented"},
		{name: "length limit", format: "%REQ(:PATH):10%", wantOperator: "%REQ(:PATH):10%", wantReason: "length limit"},
		{name: "argument on a plain command", format: "%RESPONSE_CODE(x)%", wantOperator: "%RESPONSE_CODE(x)%", wantReason: "takes no argument"},
		{name: "header name missing", format: "%REQ%", wantOperator: "%REQ%", wantReason: "needs a header name"},
		{name: "two alternatives", format: "%REQ(A?B?C)%", wantOperator: "%REQ(A?B?C)%", wantReason: "more than one alternative"},
		{name: "custom start time format", format: "%START_TIME(%s)%", wantOperator: "%START_TIME(%s)%", wantReason: "custom time format"},
		{name: "metadata without namespace", format: "%DYNAMIC_METADATA(:k)%", wantOperator: "%DYNAMIC_METADATA(:k)%", wantReason: "needs a namespace"},
		{name: "not a command", format: "100% sure", wantReason: "no valid command at position 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: clusterHeader,
				AccessLog: io.Discard, AccessLogFormat: map[string]string{"ok": "%RESPONSE_CODE%", "bad": tc.format}})
			var fe *AccessLogFormatError
			if !errors.As(err, &fe) {
				t.Fatalf("New: %v, want an *AccessLogFormatError", err)
			}
			if fe.Field != "bad" || fe.Operator != tc.wantOperator || !strings.Contains(fe.Reason, tc.wantReason) {
				t.Errorf("error %+v, want field bad, operator %q, reason containing %q", fe, tc.wantOperator, tc.wantReason)
			}
			if tc.wantOperator != "" && !strings.Contains(err.Error(), tc.wantOperator) {
				t.Errorf("message %q does not name %s", err, tc.wantOperator)
			}
		})
	}
	t.Run("format checked without a writer", func(t *testing.T) {
		_, err := New(Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: clusterHeader, AccessLogFormat: map[string]string{"x": "%NOPE%"}})
		var fe *AccessLogFormatError
		if !errors.As(err, &fe) || fe.Operator != "%NOPE%" {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("a writer needs a format", func(t *testing.T) {
		_, err := New(Config{ExtProcAddr: "127.0.0.1:1", ClusterHeader: clusterHeader, AccessLog: io.Discard})
		if !errors.Is(err, errNoAccessLogFormat) {
			t.Fatalf("New: %v, want errNoAccessLogFormat", err)
		}
	})
}

// ProjectConfig's format is accepted as it stands.
func TestProjectAccessLogFormatParses(t *testing.T) {
	cfg := ProjectConfig("127.0.0.1:1", map[string]string{"c": "http://127.0.0.1:2"})
	cfg.AccessLog = &bytes.Buffer{}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
