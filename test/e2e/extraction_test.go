package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const extractionRequest = `{"model":"cpen/middle","input":"Alice paid 12.50 USD for a notebook.",
 "schema":{"type":"object","properties":{"payer":{"type":"string"},"amount":{"type":"number"}},"required":["payer","amount"]},
 "routing":{"max_total_per_1m":"0.30","strategy":"cheapest"}}`

func chatAnswer(content string) string {
	b, _ := json.Marshal(content)
	return `{"id":"chatcmpl-x","object":"chat.completion","created":1,"model":"upstream-mini","choices":[{"index":0,"message":{"role":"assistant","content":` +
		string(b) + `},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":8,"total_tokens":28}}`
}

func postExtraction(t *testing.T, s *stack, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), "POST", s.url+"/v1/extractions", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("body %s: %v", raw, err)
	}
	if strings.Contains(string(raw), "upstream-") {
		t.Errorf("provider model leaked: %s", raw)
	}
	return resp.StatusCode, resp.Header, v
}

// Extractions: the schema goes upstream as structured output, a matching
// answer comes back parsed, one that does not match is a 422, a bad schema
// a 400 before any provider is called.
func TestExtractions(t *testing.T) {
	s := startStack(t)
	s.provA.Script(mockReply(200, chatAnswer("```json\n{\"payer\":\"Alice\",\"amount\":12.50}\n```")))
	status, h, v := postExtraction(t, s, errorsKey, extractionRequest)
	route, _ := v["cpen_route"].(map[string]any)
	out, _ := v["output"].(map[string]any)
	if status != 200 || v["object"] != "extraction" || v["model"] != "cpen/middle" || v["cpen_status"] != "completed" ||
		out["payer"] != "Alice" || out["amount"] != 12.5 || route["task"] != "extraction" || route["route_id"] != "route_mid_01" ||
		h.Get("x-cpen-route-id") != "route_mid_01" {
		t.Errorf("success: %d %v", status, v)
	}
	// The provider's usage (20 + 8 tokens) at the route's visible prices.
	cost := routePrices(t, s.catalogPath, "route_mid_01").cost(20, 8)
	if got := usd(t, v["cpen_cost_usd"]); !got.Equal(cost) {
		t.Errorf("extraction cpen_cost_usd %v, want %s", v["cpen_cost_usd"], cost)
	}
	up, _ := s.provA.Last()
	var sent map[string]any
	_ = json.Unmarshal(up.Body, &sent)
	if sent["model"] != "upstream-mini" || sent["response_format"] == nil || sent["routing"] != nil || up.Path != "/v1/chat/completions" {
		t.Errorf("provider saw %s %s", up.Path, up.Body)
	}

	s.provA.Script(mockReply(200, chatAnswer(`{"payer":"Alice"}`)))
	status, h, v = postExtraction(t, s, errorsKey, extractionRequest)
	errs, _ := v["errors"].([]any)
	if status != 422 || v["cpen_status"] != "invalid_output" || len(errs) == 0 || h.Get("x-cpen-status") != "invalid_output" {
		t.Errorf("invalid output: %d %v", status, v)
	}
	// The provider answered and billed: the 422 carries the cost too.
	if got := usd(t, v["cpen_cost_usd"]); !got.Equal(cost) {
		t.Errorf("invalid output cpen_cost_usd %v, want %s", v["cpen_cost_usd"], cost)
	}

	before := len(s.provA.Requests()) + len(s.provB.Requests())
	status, _, v = postExtraction(t, s, errorsKey, strings.Replace(extractionRequest, `"type":"object"`, `"type":12`, 1))
	e, _ := v["error"].(map[string]any)
	if status != 400 || e["code"] != "invalid_schema" || e["type"] != "invalid_request_error" {
		t.Errorf("bad schema: %d %v", status, v)
	}
	if after := len(s.provA.Requests()) + len(s.provB.Requests()); after != before {
		t.Errorf("a bad schema reached a provider")
	}
}
