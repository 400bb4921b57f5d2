package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
)

// The guest playground through Envoy: no key, 2 requests per minute per
// client address, then 429 with Retry-After.
func TestPlaygroundGuest(t *testing.T) {
	s := startStack(t)
	c := openai.NewClient(optionsFor(s.url + "/playground/v1/")...)
	params := openai.ChatCompletionNewParams{
		Model:    "cpen/low",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	}
	for i := 0; i < 2; i++ {
		comp, err := c.Chat.Completions.New(ctx(t), params)
		if err != nil {
			t.Fatalf("guest request %d: %v", i, err)
		}
		if got := cpenRoute(t, comp); got["rpm_cap"] != float64(2) {
			t.Errorf("guest rpm_cap %v", got["rpm_cap"])
		}
	}
	_, err := c.Chat.Completions.New(ctx(t), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Response.Header.Get("retry-after") == "" {
		t.Fatalf("third guest request: %v", err)
	}
}

// The public status endpoints answer through Envoy without a key.
func TestPublicStatus(t *testing.T) {
	s := startStack(t)
	for _, path := range []string{"/v1/status/routes", "/v1/billing/status", "/health"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var v map[string]any
		if resp.StatusCode != 200 || resp.Header.Get("content-type") != "application/json" || json.Unmarshal(body, &v) != nil {
			t.Errorf("%s: %d %s %s", path, resp.StatusCode, resp.Header.Get("content-type"), body)
		}
	}
}
