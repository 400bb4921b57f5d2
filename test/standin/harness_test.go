package standin

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait in the tests; generous for a loaded 2-core box.
const waitLimit = 10 * time.Second

// action is one step of a fake ext_proc server's script.
type action struct {
	recv      msgKind                       // receive one message of this kind...
	send      *extprocv3.ProcessingResponse // ...then (or only) send this
	sleep     time.Duration
	end       bool  // return endErr from the handler
	endErr    error // nil: close with OK
	signal    chan struct{}
	wait      <-chan struct{}
	pipelined msgKind                                                                   // receive body messages until end_of_stream, answering none...
	answer    func(i int, m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse // ...then answer them in order
	seen      func(i int, m *extprocv3.ProcessingRequest)
	auto      bool // answer every message with an empty answer of its type until the stream ends
}

func on(k msgKind, resp *extprocv3.ProcessingResponse) action { return action{recv: k, send: resp} }
func recvOnly(k msgKind) action                               { return action{recv: k} }
func reply(resp *extprocv3.ProcessingResponse) action         { return action{send: resp} }
func sleepFor(d time.Duration) action                         { return action{sleep: d} }
func closeOK() action                                         { return action{end: true} }
func closeWith(c codes.Code) action {
	return action{end: true, endErr: status.Error(c, "scripted failure")}
}
func waitFor(ch <-chan struct{}) action { return action{wait: ch} }
func autoAnswer() action                { return action{auto: true} }

// streamLog is what one Process stream received.
type streamLog struct {
	mu       sync.Mutex
	msgs     []*extprocv3.ProcessingRequest
	end      error // how Recv ended once Envoy was done; nil if the script closed first
	problems []string
	done     chan struct{}
}

func (l *streamLog) add(m *extprocv3.ProcessingRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
}

func (l *streamLog) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *streamLog) setEnd(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.end = err
}

func (l *streamLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.msgs))
	for _, m := range l.msgs {
		out = append(out, kindOf(m).String())
	}
	return out
}

func (l *streamLog) messages() []*extprocv3.ProcessingRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*extprocv3.ProcessingRequest(nil), l.msgs...)
}

func (l *streamLog) endCode() codes.Code {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end == nil || l.end == io.EOF {
		return codes.OK
	}
	return status.Code(l.end)
}

func kindOf(m *extprocv3.ProcessingRequest) msgKind {
	switch m.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return kindRequestHeaders
	case *extprocv3.ProcessingRequest_RequestBody:
		return kindRequestBody
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return kindResponseHeaders
	case *extprocv3.ProcessingRequest_ResponseBody:
		return kindResponseBody
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return kindRequestTrailers
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return kindResponseTrailers
	}
	return kindNone
}

func bodyOf(m *extprocv3.ProcessingRequest) *extprocv3.HttpBody {
	if b := m.GetRequestBody(); b != nil {
		return b
	}
	return m.GetResponseBody()
}

func headersOf(m *extprocv3.ProcessingRequest) *extprocv3.HttpHeaders {
	if h := m.GetRequestHeaders(); h != nil {
		return h
	}
	return m.GetResponseHeaders()
}

// emptyAnswer is the plain CONTINUE answer to m.
func emptyAnswer(m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	switch kindOf(m) {
	case kindRequestHeaders:
		return reqHeadersAns(nil)
	case kindRequestBody:
		return reqBodyAns(nil)
	case kindResponseHeaders:
		return respHeadersAns(nil)
	case kindRequestTrailers:
		return reqTrailersAns(nil)
	case kindResponseTrailers:
		return respTrailersAns(nil)
	}
	return respBodyAns(nil)
}

// fakeExtProc is a scripted ext_proc server; each new stream takes the next script.
type fakeExtProc struct {
	extprocv3.UnimplementedExternalProcessorServer
	mu      sync.Mutex
	scripts [][]action
	streams []*streamLog
}

var _ extprocv3.ExternalProcessorServer = (*fakeExtProc)(nil)

func (f *fakeExtProc) Process(srv extprocv3.ExternalProcessor_ProcessServer) error {
	f.mu.Lock()
	var script []action
	if len(f.scripts) > 0 {
		script, f.scripts = f.scripts[0], f.scripts[1:]
	}
	log := &streamLog{done: make(chan struct{})}
	f.streams = append(f.streams, log)
	f.mu.Unlock()
	defer close(log.done)

	recv := func() (*extprocv3.ProcessingRequest, bool) {
		m, err := srv.Recv()
		if err != nil {
			log.setEnd(err)
			return nil, false
		}
		log.add(m)
		return m, true
	}
	send := func(r *extprocv3.ProcessingResponse) {
		if err := srv.Send(r); err != nil {
			log.problem("send: %v", err)
		}
	}
	ctx := srv.Context()
	for i, a := range script {
		switch {
		case a.auto:
			for {
				m, ok := recv()
				if !ok {
					return nil
				}
				send(emptyAnswer(m))
			}
		case a.recv != kindNone:
			m, ok := recv()
			if !ok {
				log.problem("step %d: wanted %s, the stream ended", i, a.recv)
				return nil
			}
			if got := kindOf(m); got != a.recv {
				log.problem("step %d: wanted %s, got %s", i, a.recv, got)
			}
			if a.send != nil {
				send(a.send)
			}
		case a.pipelined != kindNone:
			var got []*extprocv3.ProcessingRequest
			for {
				m, ok := recv()
				if !ok {
					log.problem("step %d: stream ended inside the pipelined body", i)
					return nil
				}
				if kindOf(m) != a.pipelined {
					log.problem("step %d: wanted %s, got %s", i, a.pipelined, kindOf(m))
				}
				if a.seen != nil {
					a.seen(len(got), m)
				}
				got = append(got, m)
				if bodyOf(m).GetEndOfStream() {
					break
				}
			}
			for j, m := range got {
				send(a.answer(j, m))
			}
		case a.send != nil:
			send(a.send)
		case a.sleep > 0:
			select {
			case <-time.After(a.sleep):
			case <-ctx.Done():
			}
		case a.signal != nil:
			close(a.signal)
		case a.wait != nil:
			select {
			case <-a.wait:
			case <-ctx.Done():
			}
		case a.end:
			return a.endErr
		}
	}
	// Record whatever else arrives until Envoy ends the stream.
	for {
		if _, ok := recv(); !ok {
			return nil
		}
	}
}

// waitStreams waits until n streams exist and all of them ended.
func (f *fakeExtProc) waitStreams(t *testing.T, n int) []*streamLog {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		f.mu.Lock()
		logs := append([]*streamLog(nil), f.streams...)
		f.mu.Unlock()
		if len(logs) >= n {
			for _, l := range logs {
				select {
				case <-l.done:
				case <-time.After(time.Until(deadline)):
					t.Fatalf("ext_proc stream still open after %s", waitLimit)
				}
				l.mu.Lock()
				for _, p := range l.problems {
					t.Errorf("fake ext_proc: %s", p)
				}
				l.mu.Unlock()
			}
			if len(logs) != n {
				t.Fatalf("ext_proc streams = %d, want %d", len(logs), n)
			}
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("ext_proc streams = %d, want %d", len(logs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ended closes the returned channel once stream i exists and has ended
// (or waitLimit passed); usable off the test goroutine.
func (f *fakeExtProc) ended(i int) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		deadline := time.Now().Add(waitLimit)
		for time.Now().Before(deadline) {
			f.mu.Lock()
			var l *streamLog
			if len(f.streams) > i {
				l = f.streams[i]
			}
			f.mu.Unlock()
			if l != nil {
				select {
				case <-l.done:
				case <-time.After(time.Until(deadline)):
				}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return out
}

// recorded is one request that reached an upstream.
type recorded struct {
	method string
	path   string
	host   string
	header http.Header
	body   []byte
	clen   int64
}

type upstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	handler http.HandlerFunc
}

func newUpstream(name string, h http.HandlerFunc) *upstream {
	u := &upstream{handler: h}
	if u.handler == nil {
		u.handler = func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Upstream", name)
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recorded{method: r.Method, path: r.URL.RequestURI(), host: r.Host, header: r.Header.Clone(), body: body, clen: r.ContentLength})
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		u.handler(w, r)
	}))
	return u
}

func (u *upstream) requests() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.reqs...)
}

// setup describes one test's world.
type setup struct {
	cfg      Config
	upstream http.HandlerFunc // for both clusters; nil = 200 JSON
	scripts  [][]action
	// serverOpts configure the fake's gRPC server, e.g. its keepalive
	// enforcement; none means grpc-go's defaults.
	serverOpts []grpc.ServerOption
	// via, if set, puts something between the stand-in and the fake: it
	// gets the fake's address and returns the one the stand-in dials.
	via func(t *testing.T, addr string) string
	// h2c lets the listener speak HTTP/2 without TLS too, as Envoy's
	// codec_type AUTO does; the test's client picks the protocol.
	h2c bool
}

type harness struct {
	fake   *fakeExtProc
	ups    map[string]*upstream // clusters "a" and "b"
	proxy  *Proxy
	front  *httptest.Server
	client *http.Client
}

const clusterHeader = "x-cluster"

func start(t *testing.T, s setup) *harness {
	t.Helper()
	h := &harness{fake: &fakeExtProc{scripts: s.scripts}, ups: map[string]*upstream{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(s.serverOpts...)
	extprocv3.RegisterExternalProcessorServer(gs, h.fake)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	for _, name := range []string{"a", "b"} {
		h.ups[name] = newUpstream(name, s.upstream)
	}
	cfg := s.cfg
	if cfg.ExtProcAddr == "" {
		cfg.ExtProcAddr = lis.Addr().String()
		if s.via != nil {
			cfg.ExtProcAddr = s.via(t, cfg.ExtProcAddr)
		}
	}
	if cfg.ClusterHeader == "" {
		cfg.ClusterHeader = clusterHeader
	}
	if cfg.Clusters == nil {
		cfg.Clusters = map[string]string{"a": h.ups["a"].srv.URL, "b": h.ups["b"].srv.URL}
	}
	if cfg.MessageTimeout == 0 {
		// Far above any real answer time; timeout tests set 200ms themselves.
		cfg.MessageTimeout = 5 * time.Second
	}
	if cfg.NewRequestID == nil {
		cfg.NewRequestID = func() string { return "generated-id" }
	}
	cfg.Logf = t.Logf
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.proxy = p
	h.front = httptest.NewUnstartedServer(p)
	if s.h2c {
		h.front.Config.Protocols = &http.Protocols{}
		h.front.Config.Protocols.SetHTTP1(true)
		h.front.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	h.front.Start()
	h.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(func() {
		h.front.Close() // waits for in-flight handlers
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		gs.Stop()
		<-served
		for _, u := range h.ups {
			u.srv.Close()
		}
	})
	return h
}

// result is what the client saw.
type result struct {
	status int
	header http.Header
	body   string
	err    error // transport error, e.g. a reset
}

func (h *harness) do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// newReq builds a request to the stand-in; hdr pairs are added in order.
func (h *harness) newReq(t *testing.T, method, path, body string, hdr ...string) *http.Request {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.front.URL+path, rb)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

// post sends the usual LLM-style request routed to cluster a.
func (h *harness) post(t *testing.T, body string, hdr ...string) result {
	t.Helper()
	return h.do(t, h.newReq(t, http.MethodPost, "/v1/chat/completions", body, append([]string{clusterHeader, "a"}, hdr...)...))
}

// Builders for answers.

func cr(opts ...func(*extprocv3.CommonResponse)) *extprocv3.CommonResponse {
	c := &extprocv3.CommonResponse{}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withHM(m *extprocv3.HeaderMutation) func(*extprocv3.CommonResponse) {
	return func(c *extprocv3.CommonResponse) { c.HeaderMutation = m }
}

func withBody(b string) func(*extprocv3.CommonResponse) {
	return func(c *extprocv3.CommonResponse) {
		c.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte(b)}}
	}
}

func withClearBody() func(*extprocv3.CommonResponse) {
	return func(c *extprocv3.CommonResponse) {
		c.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_ClearBody{ClearBody: true}}
	}
}

func withClearRoute() func(*extprocv3.CommonResponse) {
	return func(c *extprocv3.CommonResponse) { c.ClearRouteCache = true }
}

func withReplace() func(*extprocv3.CommonResponse) {
	return func(c *extprocv3.CommonResponse) { c.Status = extprocv3.CommonResponse_CONTINUE_AND_REPLACE }
}

func hm(remove []string, set ...*corev3.HeaderValueOption) *extprocv3.HeaderMutation {
	return &extprocv3.HeaderMutation{RemoveHeaders: remove, SetHeaders: set}
}

func setRaw(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(v)}}
}

func appendRaw(k, v string) *corev3.HeaderValueOption {
	o := setRaw(k, v)
	//lint:ignore SA1019 Envoy's ext_proc reads the deprecated append field, so scripted answers must set it.
	o.Append = wrapperspb.Bool(true)
	return o
}

func reqHeadersAns(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{Response: c}}}
}

func reqBodyAns(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{Response: c}}}
}

func respHeadersAns(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{Response: c}}}
}

func respBodyAns(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{Response: c}}}
}

func reqTrailersAns(m *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{HeaderMutation: m}}}
}

func respTrailersAns(m *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{HeaderMutation: m}}}
}

func immediate(code int, body string, headers *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	ir := &extprocv3.ImmediateResponse{Body: []byte(body), Headers: headers}
	if code != 0 {
		ir.Status = &typev3.HttpStatus{Code: typev3.StatusCode(code)}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: ir}}
}

// pairs flattens a proto header map, checking Envoy's encoding on the way.
func pairs(t *testing.T, hm *corev3.HeaderMap) [][2]string {
	t.Helper()
	var out [][2]string
	for _, h := range hm.GetHeaders() {
		if h.GetValue() != "" {
			t.Errorf("header %q: value=%q, want it empty (raw_value only)", h.GetKey(), h.GetValue())
		}
		if h.GetKey() != strings.ToLower(h.GetKey()) {
			t.Errorf("header %q is not lower-case", h.GetKey())
		}
		out = append(out, [2]string{h.GetKey(), string(h.GetRawValue())})
	}
	return out
}

func values(ps [][2]string, key string) []string {
	var out []string
	for _, p := range ps {
		if p[0] == key {
			out = append(out, p[1])
		}
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fullKinds is the message sequence of a POST with the default modes.
func fullKinds() []string {
	return []string{"request_headers", "request_body", "response_headers", "response_body"}
}

func passAll() []action { return []action{autoAnswer()} }
