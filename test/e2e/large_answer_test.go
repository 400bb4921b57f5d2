package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// A large non-stream answer (over 64 KiB, with its content-length) goes
// through Envoy STREAMED, edited chunk by chunk: the client still gets one
// JSON object with the alias, every byte of the content, cpen_status, the
// receipt priced on the answer's usage and cpen_route; Envoy's length
// checks hold (content-length removed, the body sent chunked).
func TestLargeAnswerThroughEnvoy(t *testing.T) {
	s := startStack(t)
	content := strings.Repeat("0123456789abcdef", 20<<10) // 320 KiB
	answer := fmt.Sprintf(`{"id":"chatcmpl-big","object":"chat.completion","created":1,"model":"upstream-mini",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":42,"completion_tokens":18,"total_tokens":60}}`, content)
	s.provA.Script(mockReply(200, answer, "Content-Length", strconv.Itoa(len(answer))))

	comp, resp, err := chat(t, s, seedKey, "cpen/middle",
		route{"max_total_per_1m": "0.30", "min_total_per_1m": "0.05", "strategy": "balanced"})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Errorf("client got content-length %q for an edited body", resp.Header.Get("Content-Length"))
	}
	if comp.Model != "cpen/middle" || comp.Choices[0].Message.Content != content {
		t.Errorf("model %q, content of %d bytes (want %d)", comp.Model, len(comp.Choices[0].Message.Content), len(content))
	}
	if st := comp.JSON.ExtraFields["cpen_status"].Raw(); st != `"completed"` {
		t.Errorf("cpen_status %s", st)
	}
	// route_mid_01 at the seed example's prices: 42 + 18 tokens.
	if c := comp.JSON.ExtraFields["cpen_cost_usd"].Raw(); c != `"0.000006"` {
		t.Errorf("cpen_cost_usd %s, want \"0.000006\"", c)
	}
	if r := cpenRoute(t, comp); r["route_id"] != "route_mid_01" {
		t.Errorf("cpen_route %v", r)
	}
	if strings.Contains(comp.RawJSON(), "upstream-mini") {
		t.Error("the provider's model reached the client")
	}
}
