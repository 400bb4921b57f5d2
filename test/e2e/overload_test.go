package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cpen/router/test/mockprovider"
)

// overloadMessage is the status message of a stream refused at the bound
// of --max-streams 4.
const overloadMessage = "overloaded: 4 concurrent ext_proc streams is the bound (--max-streams); stream refused"

// openHeld opens a raw stream and has its request headers answered: from
// then on it holds one of the sidecar's stream slots until it is closed.
func openHeld(t *testing.T, sc *sidecar) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	st := rawStream(t, sc)
	if err := st.Send(chatHeaders()); err != nil {
		t.Fatal(err)
	}
	if resp, err := st.Recv(); err != nil || resp.GetRequestHeaders() == nil {
		t.Fatalf("held stream's headers: %v %v", resp, err)
	}
	return st
}

// postStatus posts a chat body through the front and returns the status.
func postStatus(t *testing.T, url, key, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), "POST", url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// With --max-streams 4 and four streams open, a fifth is refused at once
// with RESOURCE_EXHAUSTED naming the bound, and a request through the
// front fails with a 5xx instead of waiting; once a stream ends, requests
// are served again. Each refusal is counted.
func TestStreamBound(t *testing.T) {
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	s.sidecar = startSidecar(t, writeCatalog(t), "--max-streams", "4")
	s.url = s.front(s.sidecar)
	body := cheapestMiddle("Hi", 16)
	held := make([]extprocv3.ExternalProcessor_ProcessClient, 4)
	for i := range held {
		held[i] = openHeld(t, s.sidecar)
	}

	fifth := rawStream(t, s.sidecar)
	start := time.Now()
	if err := fifth.Send(chatHeaders()); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	_, err := fifth.Recv()
	refusal := time.Since(start)
	if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != overloadMessage {
		t.Fatalf("fifth stream: %v, want ResourceExhausted %q", err, overloadMessage)
	}
	if refusal > time.Second {
		t.Errorf("the refusal took %v", refusal)
	}

	start = time.Now()
	code := postStatus(t, s.url, strategyKey, body)
	through := time.Since(start)
	if code != http.StatusInternalServerError {
		t.Errorf("chat through the front at the bound: %d, want 500", code)
	}
	if through > 2*time.Second {
		t.Errorf("the refused chat took %v", through)
	}
	t.Logf("refusal: raw stream %v, chat through the front %v", refusal, through)

	if err := held[0].CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := held[0].Recv(); err != io.EOF {
		t.Fatalf("closing a held stream: %v, want EOF", err)
	}
	// The slot comes back when the sidecar's handler returns, just after
	// the client sees the end of the stream: poll briefly.
	deadline := time.Now().Add(5 * time.Second)
	for code = postStatus(t, s.url, strategyKey, body); code != 200 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		code = postStatus(t, s.url, strategyKey, body)
	}
	if code != 200 {
		t.Errorf("chat after a stream ended: %d, want 200", code)
	}
	if got := metricValue(t, s.sidecar, `cpen_requests_rejected_total{code="overloaded"}`); got < 2 {
		t.Errorf("overloaded refusals counted %d, want >= 2", got)
	}
	if !strings.Contains(s.sidecar.logs.String(), "the concurrent stream bound is reached") {
		t.Errorf("no overload line in the log")
	}
}

// metricValue reads one integer series from /metrics; 0 if absent.
func metricValue(t *testing.T, sc *sidecar, series string) int {
	t.Helper()
	resp, err := http.Get(sc.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(ln, series+" "); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("%s: %v", ln, err)
			}
			return n
		}
	}
	return 0
}

// bigChatHeaders are the request headers of a chat on a key whose RPM
// limit admits the whole load.
func bigChatHeaders() *extprocv3.ProcessingRequest {
	h := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{":method", "POST"}, {":path", "/v1/chat/completions"},
		{"content-type", "application/json"}, {"authorization", "Bearer " + strategyKey}} {
		h.Headers = append(h.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: h}}}
}

// bigExchange runs one whole chat over a raw stream: a request body and
// a provider answer of about 1 MiB each.
func bigExchange(st extprocv3.ExternalProcessor_ProcessClient, reqBody, answer []byte) error {
	steps := []struct {
		name string
		msg  *extprocv3.ProcessingRequest
		ok   func(*extprocv3.ProcessingResponse) bool
	}{
		{"request headers", bigChatHeaders(), func(r *extprocv3.ProcessingResponse) bool { return r.GetRequestHeaders() != nil }},
		{"request body", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
			RequestBody: &extprocv3.HttpBody{Body: reqBody, EndOfStream: true}}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetRequestBody() != nil }},
		{"response headers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
			ResponseHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: ":status", RawValue: []byte("200")}, {Key: "content-type", RawValue: []byte("application/json")}}}}}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseHeaders() != nil }},
		{"response body", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
			ResponseBody: &extprocv3.HttpBody{Body: answer, EndOfStream: true}}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseBody() != nil }},
	}
	for _, s := range steps {
		if err := st.Send(s.msg); err != nil {
			return fmt.Errorf("%s: send: %w", s.name, err)
		}
		resp, err := st.Recv()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if !s.ok(resp) {
			return fmt.Errorf("%s answered with %v", s.name, resp)
		}
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	if _, err := st.Recv(); err != io.EOF {
		return fmt.Errorf("end of stream: %v", err)
	}
	return nil
}

// rssLimitKiB bounds the sidecar's RSS under 64 concurrent 1 MiB bodies
// each way and after them: the bodies themselves are 128 MiB, buffered at
// most a few times over by gRPC, the exchange and the answer.
const rssLimitKiB = 600 << 10

// Sixty-four concurrent exchanges, each with a 1 MiB request body and a
// 1 MiB provider answer, keep the sidecar's RSS under a fixed bound, and
// after the load and a collection the RSS falls back below half its peak.
func TestRSSUnderConcurrentBigBodies(t *testing.T) {
	catalog := writeCatalog(t)
	setMaxBody(t, catalog, 2<<20)
	sc := startSidecar(t, catalog)
	pid := sc.cmd.Process.Pid
	before := vmKiB(t, pid, "VmRSS")

	const n = 64
	content := strings.Repeat("a", 1<<20)
	reqBody := []byte(fmt.Sprintf(`{"model":"cpen/middle","routing":{"strategy":"cheapest"},"max_completion_tokens":16,"messages":[{"role":"user","content":%q}]}`, content))
	answer := []byte(fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"upstream-mini",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`, content))

	// The sampler reads /proc while the load runs; its peak is what the
	// load cost, VmHWM the kernel's own record of it.
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if n, err := readVmKiB(pid, "VmRSS"); err == nil && int64(n) > peak.Load() {
					v := int64(n)
					peak.Store(v)
				}
			}
		}
	}()

	streams := make([]extprocv3.ExternalProcessor_ProcessClient, n)
	for i := range streams {
		streams[i] = rawStream(t, sc)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = bigExchange(st, reqBody, answer)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	<-sampled
	for i, err := range errs {
		if err != nil {
			t.Errorf("exchange %d: %v", i, err)
		}
	}
	hwm := vmKiB(t, pid, "VmHWM")

	idle := vmKiB(t, pid, "VmRSS")
	// Once no stream is left the sidecar collects and hands the burst's
	// pages back within its idle check (2 s): poll for the drop.
	settled := int(peak.Load()) / 2
	after := vmKiB(t, pid, "VmRSS")
	deadline := time.Now().Add(10 * time.Second)
	for after > settled && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling /proc, not a signal
		after = vmKiB(t, pid, "VmRSS")
	}
	t.Logf("64 exchanges of 1 MiB each way in %v: RSS before %d KiB, sampled peak %d KiB, VmHWM %d KiB, "+
		"right after the load %d KiB, once idle %d KiB", took, before, peak.Load(), hwm, idle, after)
	if hwm > rssLimitKiB {
		t.Errorf("peak RSS %d KiB, over the bound of %d KiB", hwm, rssLimitKiB)
	}
	if idle > rssLimitKiB {
		t.Errorf("RSS after the load %d KiB, over the bound of %d KiB", idle, rssLimitKiB)
	}
	if after > settled {
		t.Errorf("RSS %d KiB 10 s after the load, want at most half the peak (%d KiB): the memory did not go back", after, settled)
	}
}
