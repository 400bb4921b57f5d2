package extproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// outcome names how one hostile stream ended, so that a table row states
// it exactly: "grpc <Code>" for a stream error, "<status> <error.code>"
// for an error reply, "routed <model>" for a request sent upstream with
// that model (read from the upstream body, which every JSON parser must
// read alike), "answered <n>" for a stream that ended cleanly after n
// pass-through answers.
func outcome(t *testing.T, err error, out []*extprocv3.ProcessingResponse) string {
	t.Helper()
	if err != nil {
		return "grpc " + status.Code(err).String()
	}
	for _, r := range out {
		if ir := r.GetImmediateResponse(); ir != nil {
			var eb errorBody
			if jerr := json.Unmarshal(ir.GetBody(), &eb); jerr != nil {
				return fmt.Sprintf("%d non-JSON reply", ir.GetStatus().GetCode())
			}
			return fmt.Sprintf("%d %s", ir.GetStatus().GetCode(), eb.Error.Code)
		}
		if rb := r.GetRequestBody(); rb != nil {
			return "routed " + bodyModel(t, rb.GetResponse().GetBodyMutation().GetBody())
		}
	}
	return fmt.Sprintf("answered %d", len(out))
}

// bodyModel is the model of the upstream body, read both first-wins
// (a streaming parser) and last-wins (encoding/json); a body on which the
// two disagree would let the provider bill another model than the one
// priced.
func bodyModel(t *testing.T, body []byte) string {
	t.Helper()
	var last struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &last); err != nil {
		t.Errorf("upstream body is not JSON: %v: %.200s", err, body)
		return "?"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	first, seen := "", 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if k == "model" {
			seen++
			if seen == 1 {
				_ = json.Unmarshal(v, &first)
			}
		}
	}
	if seen != 1 || first != last.Model {
		t.Errorf("upstream body has model %d times (first %q, last %q): %.300s", seen, first, last.Model, body)
	}
	return last.Model
}

// chatBody is a cpen/middle chat with extra top-level members spliced in.
func chatBody(extra string) string {
	return `{"model":"cpen/middle","messages":[{"role":"user","content":"Hi"}]` + extra + `}`
}

// manyHeaders are request headers with n extra headers of size bytes.
func manyHeaders(n, size int) *extprocv3.ProcessingRequest {
	h := reqHeaders("/v1/chat/completions", seedKey)
	hv := h.GetRequestHeaders().GetHeaders()
	for i := 0; i < n; i++ {
		hv.Headers = append(hv.Headers, &corev3.HeaderValue{Key: fmt.Sprintf("x-junk-%d", i), RawValue: bytes.Repeat([]byte("v"), size)})
	}
	return h
}

// withHeader is the chat request headers with one more header.
func withHeader(k, v string) *extprocv3.ProcessingRequest {
	h := reqHeaders("/v1/chat/completions", seedKey)
	hv := h.GetRequestHeaders().GetHeaders()
	hv.Headers = append(hv.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	return h
}

func reqTrailers() *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocv3.HttpTrailers{}}}
}

func bodyChunk(s string, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(s), EndOfStream: eos}}}
}

// hostileRows are inputs a client or a broken proxy can send; each must
// end in an exact error reply, a stream error, or a consistent pass.
func hostileRows() []struct {
	name string
	msgs []*extprocv3.ProcessingRequest
	want string
} {
	h := func() *extprocv3.ProcessingRequest { return reqHeaders("/v1/chat/completions", seedKey) }
	chat := func(body string) []*extprocv3.ProcessingRequest {
		return []*extprocv3.ProcessingRequest{h(), reqBody(body)}
	}
	return []struct {
		name string
		msgs []*extprocv3.ProcessingRequest
		want string
	}{
		// Duplicate and disguised keys.
		{"model twice", chat(`{"model":"cpen/middle","model":"cpen/low","messages":[]}`), "400 invalid_request"},
		{"model twice, same value", chat(`{"model":"cpen/middle","model":"cpen/middle","messages":[]}`), "400 invalid_request"},
		{"routing twice", chat(chatBody(`,"routing":{},"routing":{"strategy":"cheapest"}`)), "400 invalid_routing"},
		{"messages twice", chat(`{"model":"cpen/middle","messages":[],"messages":[]}`), "400 invalid_request"},
		{"Model case variant", chat(chatBody(`,"Model":"gpt-4.1"`)), "400 invalid_request"},
		{"ROUTING case variant", chat(chatBody(`,"ROUTING":{}`)), "400 invalid_request"},
		{"escaped model alone", chat(`{"\u006dodel":"cpen/middle","messages":[]}`), "routed upstream-mini"},
		{"escaped model after model", chat(`{"model":"cpen/middle","\u006dodel":"cpen/low","messages":[]}`), "400 invalid_request"},
		{"escaped model before model", chat(`{"\u006dodel":"cpen/low","model":"cpen/middle","messages":[]}`), "400 invalid_request"},
		{"escaped routing alone", chat(chatBody(`,"\u0072outing":{"strategy":"cheapest"}`)), "routed upstream-mini"},
		{"escaped routing twice", chat(chatBody(`,"routing":{},"\u0072outing":{"max_total_per_1m":"0.01"}`)), "400 invalid_routing"},
		{"escaped strategy key", chat(chatBody(`,"routing":{"\u0073trategy":"cheapest"}`)), "routed upstream-mini"},
		{"routing key twice inside", chat(chatBody(`,"routing":{"strategy":"cheapest","strategy":"balanced"}`)), "400 invalid_routing"},
		{"model with escaped value", chat(`{"model":"cpen\/middle","messages":[]}`), "routed upstream-mini"},
		{"model value with unicode escape", chat(`{"model":"cpen/\u006diddle","messages":[]}`), "routed upstream-mini"},
		{"model value with NUL escape", chat(`{"model":"cpen/middle\u0000","messages":[]}`), "400 unknown_model"},

		// Nesting.
		{"nesting at the bound", chat(nested(63)), "routed upstream-nano"},
		{"nesting past the bound", chat(nested(64)), "400 invalid_json"},
		{"objects nested past the bound", chat(chatBody(`,"metadata":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70))), "400 invalid_json"},
		{"unclosed nesting", chat(`{"model":"cpen/middle","messages":` + strings.Repeat("[", 10000)), "400 invalid_json"},

		// Invalid UTF-8 and odd bytes.
		{"invalid UTF-8 in content", chat(chatBody(`,"user":"a` + "\xff\xfe" + `b"`)), "routed upstream-mini"},
		{"invalid UTF-8 in model", chat(`{"model":"cpen/middle` + "\xc3" + `","messages":[]}`), "400 unknown_model"},
		{"invalid UTF-8 in a key", chat(chatBody(`,"` + "\xff" + `":1`)), "routed upstream-mini"},
		{"overlong slash in model", chat(`{"model":"cpen` + "\xc0\xaf" + `middle","messages":[]}`), "400 unknown_model"},
		{"lone surrogate escape in content", chat(chatBody(`,"user":"\ud800"`)), "routed upstream-mini"},
		{"byte order mark", chat("\xef\xbb\xbf" + chatBody("")), "400 invalid_json"},
		{"NUL byte outside a string", chat(chatBody("") + "\x00"), "400 invalid_json"},
		{"trailing garbage", chat(chatBody("") + `x`), "400 invalid_json"},
		{"two objects", chat(chatBody("") + chatBody("")), "400 invalid_json"},
		{"truncated object", chat(`{"model":"cpen/middle","messages":[`), "400 invalid_json"},
		{"top-level array", chat(`[` + chatBody("") + `]`), "400 invalid_json"},
		{"top-level null", chat(`null`), "400 invalid_json"},
		{"empty body", chat(``), "400 invalid_json"},
		{"model a number", chat(`{"model":7,"messages":[]}`), "400 invalid_model"},
		{"model null", chat(`{"model":null,"messages":[]}`), "400 invalid_model"},
		{"model 64 KiB", chat(`{"model":"` + strings.Repeat("m", 64<<10) + `","messages":[]}`), "400 unknown_model"},
		{"routing a string", chat(chatBody(`,"routing":"cheapest"`)), "400 invalid_routing"},

		// Numbers at the edges.
		{"temperature 1e308", chat(chatBody(`,"temperature":1e308`)), "routed upstream-mini"},
		{"temperature -0", chat(chatBody(`,"temperature":-0`)), "routed upstream-mini"},
		{"temperature huge exponent", chat(chatBody(`,"temperature":1e999999999`)), "routed upstream-mini"},
		{"max tokens 1e308", chat(chatBody(`,"max_completion_tokens":1e308`)), "routed upstream-mini"},
		{"max tokens -0", chat(chatBody(`,"max_completion_tokens":-0`)), "routed upstream-mini"},
		{"max tokens past int64", chat(chatBody(`,"max_completion_tokens":9223372036854775808`)), "routed upstream-mini"},
		{"cap -0 is a cap of zero", chat(chatBody(`,"routing":{"max_total_per_1m":"-0"}`)), "402 no_route_under_budget"},
		{"cap 1e308", chat(chatBody(`,"routing":{"max_total_per_1m":"1e308"}`)), "400 invalid_routing"},
		{"cap huge exponent", chat(chatBody(`,"routing":{"max_total_per_1m":"1e999999999"}`)), "400 invalid_routing"},
		{"cap as a bare number", chat(chatBody(`,"routing":{"max_total_per_1m":0.3}`)), "routed upstream-mini"},
		{"rpm cap 1e308", chat(chatBody(`,"routing":{"rpm_cap":1e308}`)), "400 invalid_routing"},
		{"rpm cap -0", chat(chatBody(`,"routing":{"rpm_cap":-0}`)), "400 invalid_routing"},

		// Headers.
		{"1000 headers", []*extprocv3.ProcessingRequest{manyHeaders(1000, 16), reqBody(chatBody(""))}, "routed upstream-mini"},
		{"64 KiB header value", []*extprocv3.ProcessingRequest{manyHeaders(1, 64<<10), reqBody(chatBody(""))}, "routed upstream-mini"},
		{"authorization twice: which key pays is unclear", []*extprocv3.ProcessingRequest{withHeader("authorization", "Bearer "+otherKey)}, "401 invalid_api_key"},
		{"64 KiB bearer", []*extprocv3.ProcessingRequest{
			{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: headers(false, ":method", "POST",
				":path", "/v1/chat/completions", "authorization", "Bearer "+strings.Repeat("k", 64<<10))}}}, "401 invalid_api_key"},
		{"64 KiB path", []*extprocv3.ProcessingRequest{reqHeaders("/"+strings.Repeat("p", 64<<10), seedKey)}, "404 not_found"},

		// Envoy's order broken.
		{"body before headers", []*extprocv3.ProcessingRequest{reqBody(chatBody(""))}, "grpc FailedPrecondition"},
		{"headers twice", []*extprocv3.ProcessingRequest{h(), h()}, "grpc FailedPrecondition"},
		{"body after the last body", []*extprocv3.ProcessingRequest{h(), reqBody(chatBody("")), reqBody(chatBody(""))}, "grpc FailedPrecondition"},
		{"response body before its headers", []*extprocv3.ProcessingRequest{h(), reqBody(chatBody("")), respBody(`{}`)}, "grpc FailedPrecondition"},
		{"response headers before the request body", []*extprocv3.ProcessingRequest{h(), respHeaders("200", "application/json")}, "answered 2"},
		{"trailers first", []*extprocv3.ProcessingRequest{reqTrailers()}, "answered 1"},
		{"empty ProcessingRequest", []*extprocv3.ProcessingRequest{{}}, "grpc FailedPrecondition"},
		{"empty ProcessingRequest after headers", []*extprocv3.ProcessingRequest{h(), {}}, "grpc FailedPrecondition"},
		{"body without end of stream", []*extprocv3.ProcessingRequest{h(), bodyChunk(chatBody(""), false)}, "routed upstream-mini"},
		{"truncated chunk, then more", []*extprocv3.ProcessingRequest{h(), bodyChunk(`{"model":`, false), bodyChunk(`"cpen/middle"}`, true)}, "grpc FailedPrecondition"},
		{"body after a refusal", []*extprocv3.ProcessingRequest{reqHeaders("/v1/chat/completions", "cpen_live_nope"), reqBody(chatBody(""))}, "grpc FailedPrecondition"},
		{"nothing sent", nil, "answered 0"},
		{"headers only, then the end", []*extprocv3.ProcessingRequest{h()}, "answered 1"},
	}
}

// At least fifty hostile inputs, each with its exact outcome; none may
// panic, hang or leave a goroutine behind (the package's TestMain checks).
func TestHostileInputTable(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	rows := hostileRows()
	if len(rows) < 50 {
		t.Fatalf("%d rows, want at least 50", len(rows))
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStream{In: tc.msgs}
			err := s.Process(f)
			if got := outcome(t, err, f.Out); got != tc.want {
				t.Errorf("outcome %q, want %q (err %v)", got, tc.want, err)
			}
		})
	}
}

// Bytes a client sends that are not valid UTF-8 (or are an escaped lone
// surrogate) in a member the sidecar does not edit reach the provider
// exactly as sent: selection never reads them, and the provider sees the
// body the client wrote.
func TestInvalidUTF8ForwardedByteForByte(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	for _, member := range []string{`"user":"a` + "\xff\xfe" + `b"`, `"user":"\ud800"`, `"` + "\xff" + `":1`} {
		out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(chatBody(","+member)))
		up := out[1].GetRequestBody().GetResponse().GetBodyMutation().GetBody()
		if !bytes.Contains(up, []byte(member)) {
			t.Errorf("upstream body lacks %q as sent: %q", member, up)
		}
	}
}

// cancelStream is Envoy's side of a stream the client abandons: Recv
// returns In, then the client's cancellation (the stream's context ends
// and Recv fails with Canceled, as gRPC reports it).
type cancelStream struct {
	fakeStream
	ctx    context.Context
	cancel context.CancelFunc
}

func (c *cancelStream) Context() context.Context { return c.ctx }

func (c *cancelStream) Recv() (*extprocv3.ProcessingRequest, error) {
	if len(c.In) > 0 {
		return c.fakeStream.Recv()
	}
	c.cancel()
	return nil, status.Error(codes.Canceled, context.Canceled.Error())
}

// silentStream never sends; its Recv ends only when the stream's context
// does, which gRPC cancels once Process returns.
type silentStream struct {
	fakeStream
	ctx context.Context
}

func (s *silentStream) Context() context.Context { return s.ctx }

func (s *silentStream) Recv() (*extprocv3.ProcessingRequest, error) {
	<-s.ctx.Done()
	return nil, status.Error(codes.Canceled, context.Canceled.Error())
}

// Ten thousand exchanges abandoned at every point (after the headers,
// after the body, after the provider's headers, in the middle of a
// response) and streams that never send leave no goroutine behind: the
// count returns to what it was before the server existed.
func TestCancelledExchangesLeaveNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	ignore := goleak.IgnoreCurrent()
	// The clock stands still, so the seed key's window must admit them all.
	raw, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(cat, bytes.Replace(raw, []byte("rpm_limit: 60\n"), []byte("rpm_limit: 100000\n"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, cat)
	idle, _ := newTestServer(t, cat, WithStreamIdleTimeout(time.Millisecond))
	h := func() *extprocv3.ProcessingRequest { return reqHeaders("/v1/chat/completions", seedKey) }
	body := reqBody(withRouting(`{"strategy":"cheapest"}`))
	variants := [][]*extprocv3.ProcessingRequest{
		{h()},
		{h(), body},
		{h(), body, respHeaders("200", "application/json")},
		{h(), body, respHeaders("200", "text/event-stream"), respChunk(`data: {"choices":[]}`+"\n\n", false)},
		{},
	}
	const total, parallel = 10000, 16
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += parallel {
				ctx, cancel := context.WithCancel(context.Background())
				var err error
				if i%100 == 99 {
					// One in a hundred never sends: the idle timeout ends it.
					err = idle.Process(&silentStream{ctx: ctx})
					if status.Code(err) == codes.DeadlineExceeded {
						err = nil
					}
				} else {
					msgs := variants[i%(len(variants)-1)]
					err = s.Process(&cancelStream{fakeStream: fakeStream{In: msgs}, ctx: ctx, cancel: cancel})
				}
				cancel()
				if err != nil {
					errs <- fmt.Errorf("exchange %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s.Close()
	idle.Close()
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for n > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before {
		t.Errorf("%d goroutines after %d cancelled exchanges, %d before", n, total, before)
	}
	goleak.VerifyNone(t, ignore)
}
