package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// A streamed completion through Envoy with the SDK's streaming client:
// every chunk names the alias, the first carries cpen_route, the last data
// chunk carries cpen_status and usage, and the text arrives whole.
func TestStreamingThroughSDK(t *testing.T) {
	s := startStack(t)
	c := s.client(seedKey)
	stream := c.Chat.Completions.NewStreaming(ctx(t), openai.ChatCompletionNewParams{
		Model:    "cpen/middle",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello in five words.")},
	}, option.WithJSONSet("routing", route{"max_total_per_1m": "0.30", "strategy": "cheapest"}))
	var chunks []openai.ChatCompletionChunk
	var text strings.Builder
	for stream.Next() {
		ch := stream.Current()
		chunks = append(chunks, ch)
		if len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(chunks) < 3 {
		t.Fatalf("got %d chunks", len(chunks))
	}
	for i, ch := range chunks {
		if ch.Model != "cpen/middle" || strings.Contains(ch.RawJSON(), "upstream-") {
			t.Errorf("chunk %d: %s", i, ch.RawJSON())
		}
		_, hasRoute := ch.JSON.ExtraFields["cpen_route"]
		_, hasStatus := ch.JSON.ExtraFields["cpen_status"]
		if hasRoute != (i == 0) || hasStatus != (i == len(chunks)-1) {
			t.Errorf("chunk %d: route %v status %v: %s", i, hasRoute, hasStatus, ch.RawJSON())
		}
	}
	var cr map[string]any
	if err := json.Unmarshal([]byte(chunks[0].JSON.ExtraFields["cpen_route"].Raw()), &cr); err != nil || cr["route_id"] != "route_mid_01" || cr["reason_code"] != "cheapest_fit" {
		t.Errorf("cpen_route %v (%v)", cr, err)
	}
	last := chunks[len(chunks)-1]
	if last.JSON.ExtraFields["cpen_status"].Raw() != `"completed"` || last.Usage.TotalTokens == 0 {
		t.Errorf("last chunk: %s", last.RawJSON())
	}
	if text.Len() == 0 {
		t.Error("no text streamed")
	}
	req, _ := s.provA.Last()
	var body map[string]any
	_ = json.Unmarshal(req.Body, &body)
	if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true || body["stream"] != true {
		t.Errorf("provider request %s", req.Body)
	}
}
