package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cpen/router/test/mockprovider"
)

// accessLines collects the front's access log and hands out whole lines;
// a real Envoy's stdout may arrive in pieces that do not end at a newline.
type accessLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	grew    chan struct{} // closed and replaced whenever a line completes
}

func newAccessLines() *accessLines { return &accessLines{grew: make(chan struct{})} }

func (a *accessLines) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.partial = append(a.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(a.partial, '\n')
		if i < 0 {
			break
		}
		a.lines = append(a.lines, string(a.partial[:i]))
		a.partial = a.partial[i+1:]
		added = true
	}
	if added {
		close(a.grew)
		a.grew = make(chan struct{})
	}
	return len(p), nil
}

// line waits for the n-th line (from 1) and decodes it, numbers kept as
// json.Number so their JSON type shows. The front logs a request once it
// has ended, which may be just after the client has read the answer.
func (a *accessLines) line(t *testing.T, n int) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		a.mu.Lock()
		if len(a.lines) >= n {
			raw := a.lines[n-1]
			a.mu.Unlock()
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			var v map[string]any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("access log line %d %q: %v", n, raw, err)
			}
			t.Logf("access log line %d: %s", n, raw)
			return v
		}
		grew, have := a.grew, len(a.lines)
		a.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("access log has %d lines, want %d", have, n)
		}
	}
}

// jsonInt is a field that must be a JSON number holding a whole number.
func jsonInt(t *testing.T, line map[string]any, key string) (int64, bool) {
	t.Helper()
	n, ok := line[key].(json.Number)
	if !ok {
		t.Errorf("%s = %#v, want a JSON number", key, line[key])
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		t.Errorf("%s = %s, want a whole number", key, n)
		return 0, false
	}
	return i, true
}

// answer is what a client saw of one request, to hold its access log line to.
type answer struct {
	status        int64
	routeHeader   string // x-cpen-route-id
	routeID       string // cpen_route.route_id
	cost          string // cpen_cost_usd
	input, output int64  // usage
	errorCode     string // error.code of a refusal
}

// checkLine holds one access log line to the answer the client got. The
// request line and the outcome come from Envoy itself; the cpen_* fields
// come from the sidecar's dynamic metadata.
func checkLine(t *testing.T, line map[string]any, a answer, wantCluster any) {
	t.Helper()
	if code, ok := jsonInt(t, line, "response_code"); ok && code != a.status {
		t.Errorf("response_code = %d, want %d", code, a.status)
	}
	if line["method"] != http.MethodPost || line["response_flags"] != "-" || line["upstream_cluster"] != wantCluster {
		t.Errorf("method %v, response_flags %v, upstream_cluster %v; want POST, -, %v",
			line["method"], line["response_flags"], line["upstream_cluster"], wantCluster)
	}
	if id, _ := line["request_id"].(string); id == "" {
		t.Errorf("request_id = %#v, want Envoy's x-request-id", line["request_id"])
	}

	// The sidecar's metadata.
	if line["cpen_alias"] != "cpen/middle" {
		t.Errorf("cpen_alias = %#v, want cpen/middle", line["cpen_alias"])
	}
	if us, ok := line["cpen_processing_us"].(json.Number); !ok {
		t.Errorf("cpen_processing_us = %#v, want a JSON number", line["cpen_processing_us"])
	} else if f, err := us.Float64(); err != nil || f <= 0 {
		t.Errorf("cpen_processing_us = %s, want a positive number", us)
	}
	if a.errorCode != "" {
		if line["cpen_status"] != "rejected" || line["cpen_error_code"] != a.errorCode {
			t.Errorf("cpen_status %#v, cpen_error_code %#v; want rejected, %s", line["cpen_status"], line["cpen_error_code"], a.errorCode)
		}
		return
	}
	if line["cpen_status"] != "completed" || line["cpen_error_code"] != nil {
		t.Errorf("cpen_status %#v, cpen_error_code %#v; want completed, null", line["cpen_status"], line["cpen_error_code"])
	}
	if line["cpen_route_id"] != a.routeHeader || line["cpen_route_id"] != a.routeID {
		t.Errorf("cpen_route_id = %#v, want the answer's %q (x-cpen-route-id %q)", line["cpen_route_id"], a.routeID, a.routeHeader)
	}
	if line["cpen_cost_usd"] != a.cost {
		t.Errorf("cpen_cost_usd = %#v, want the answer's %q", line["cpen_cost_usd"], a.cost)
	}
	if in, ok := jsonInt(t, line, "cpen_input_tokens"); ok && in != a.input {
		t.Errorf("cpen_input_tokens = %d, want the answer's %d", in, a.input)
	}
	if out, ok := jsonInt(t, line, "cpen_output_tokens"); ok && out != a.output {
		t.Errorf("cpen_output_tokens = %d, want the answer's %d", out, a.output)
	}
}

// extraString is a string field the SDK kept beside the ones it knows.
func extraString(t *testing.T, raw string, key string) string {
	t.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	var s string
	if err := json.Unmarshal(v[key], &s); err != nil {
		t.Fatalf("%s in %s: %v", key, raw, err)
	}
	return s
}

// One line per request, holding what the client was told: a priced chat,
// a streamed chat and a refusal, each line read after its request.
func TestAccessLogCarriesSidecarMetadata(t *testing.T) {
	alog := newAccessLines()
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b"), accessLog: alog}
	s.sidecar = startSidecar(t, creditCatalog(t, "0.01"))
	s.url = s.front(s.sidecar)
	c := s.client(creditKey)
	cheapest := option.WithJSONSet("routing", map[string]any{"strategy": "cheapest"})

	t.Run("chat", func(t *testing.T) {
		s.provA.Script(mockReply(200, answerWithUsage("upstream-mini", 42, 18)))
		var resp *http.Response
		comp, err := c.Chat.Completions.New(ctx(t), openai.ChatCompletionNewParams{
			Model:               "cpen/middle",
			MaxCompletionTokens: openai.Int(50),
			Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tag: refund request.")},
		}, cheapest, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("chat: %v", err)
		}
		a := answer{
			status: int64(resp.StatusCode), routeHeader: resp.Header.Get("x-cpen-route-id"),
			routeID: fmt.Sprint(cpenRoute(t, comp)["route_id"]), cost: extraString(t, comp.RawJSON(), "cpen_cost_usd"),
			input: comp.Usage.PromptTokens, output: comp.Usage.CompletionTokens,
		}
		if a.routeID != "route_mid_01" || a.cost != "0.000006" || a.input != 42 || a.output != 18 {
			t.Fatalf("answer %+v, want route_mid_01 at 0.000006 for 42 + 18 tokens", a)
		}
		checkLine(t, alog.line(t, 1), a, "mock_a")
	})

	t.Run("stream", func(t *testing.T) {
		var resp *http.Response
		stream := c.Chat.Completions.NewStreaming(ctx(t), openai.ChatCompletionNewParams{
			Model:               "cpen/middle",
			MaxCompletionTokens: openai.Int(50),
			Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello in five words.")},
		}, cheapest, option.WithResponseInto(&resp),
			option.WithHTTPClient(&http.Client{Transport: drainOnClose{http.DefaultTransport}}))
		a := answer{}
		for stream.Next() {
			ch := stream.Current()
			if f, ok := ch.JSON.ExtraFields["cpen_route"]; ok {
				var r map[string]any
				if err := json.Unmarshal([]byte(f.Raw()), &r); err != nil {
					t.Fatalf("cpen_route %s: %v", f.Raw(), err)
				}
				a.routeID, _ = r["route_id"].(string)
			}
			if ch.Usage.PromptTokens > 0 {
				a.input, a.output = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
				a.cost = extraString(t, ch.RawJSON(), "cpen_cost_usd")
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		a.status, a.routeHeader = int64(resp.StatusCode), resp.Header.Get("x-cpen-route-id")
		if a.routeID != "route_mid_01" || a.cost == "" || a.input == 0 {
			t.Fatalf("stream answer %+v, want route_mid_01 with a usage chunk and its cost", a)
		}
		checkLine(t, alog.line(t, 2), a, "mock_a")
	})

	t.Run("refusal", func(t *testing.T) {
		// The worst case of 100000 output tokens is above the 0.01 USD credit.
		_, err := c.Chat.Completions.New(ctx(t), openai.ChatCompletionNewParams{
			Model:               "cpen/middle",
			MaxCompletionTokens: openai.Int(100000),
			Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("too big")},
		}, cheapest)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusPaymentRequired || apiErr.Code != "insufficient_credit" {
			t.Fatalf("got %v, want a 402 insufficient_credit", err)
		}
		// Refused before any route named a cluster.
		checkLine(t, alog.line(t, 3), answer{status: http.StatusPaymentRequired, errorCode: apiErr.Code}, nil)
	})
}

// drainOnClose reads a response body to its end when it is closed, as a
// client that keeps its connection does. openai-go closes a stream's body
// at [DONE], before the chunked body's last chunk, and Go's client then
// drops the connection: an Envoy that had not ended the response yet logs
// the client's disconnect (DC), which is not what this test is about.
type drainOnClose struct{ http.RoundTripper }

func (d drainOnClose) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.RoundTripper.RoundTrip(r)
	if err == nil {
		resp.Body = drainingBody{resp.Body}
	}
	return resp, err
}

type drainingBody struct{ io.ReadCloser }

func (b drainingBody) Close() error {
	_, _ = io.Copy(io.Discard, b.ReadCloser)
	return b.ReadCloser.Close()
}
