// Command sdk calls the router with the official OpenAI Go SDK: a routed
// completion, a stream and two refusals.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// cpenRoute is the part of cpen_route this program prints.
type cpenRoute struct {
	RouteID    string `json:"route_id"`
	Total      string `json:"estimated_total_usd_per_1m"`
	ReasonCode string `json:"reason_code"`
}

func main() {
	ctx := context.Background()
	client := openai.NewClient(
		option.WithBaseURL(cmp.Or(os.Getenv("CPEN_BASE_URL"), "http://localhost:10000/v1")),
		option.WithAPIKey(cmp.Or(os.Getenv("CPEN_API_KEY"), "cpen_live_demo_4f1c2b7e9a3d5c8b")),
	)
	params := openai.ChatCompletionNewParams{
		Model:    "cpen/middle",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	}

	// routing is not an OpenAI parameter: WithJSONSet adds it to the body.
	// WithResponseInto keeps the response headers.
	var resp *http.Response
	completion, err := client.Chat.Completions.New(ctx, params,
		option.WithJSONSet("routing", map[string]any{"max_total_per_1m": "0.30", "strategy": "balanced"}),
		option.WithResponseInto(&resp))
	if err != nil {
		log.Fatal(err)
	}
	var route cpenRoute
	if err := json.Unmarshal([]byte(completion.JSON.ExtraFields["cpen_route"].Raw()), &route); err != nil {
		log.Fatal(err)
	}
	fmt.Println("route", route.RouteID, route.Total, route.ReasonCode)
	fmt.Println("header", resp.Header.Get("x-cpen-route-id"), resp.Header.Get("x-ratelimit-limit-requests"))

	// Streaming: the first chunk carries cpen_route, the last cpen_status.
	stream := client.Chat.Completions.NewStreaming(ctx, params,
		option.WithJSONSet("routing", map[string]any{"strategy": "cheapest"}))
	var routeID, status, text string
	for stream.Next() {
		chunk := stream.Current()
		if f, ok := chunk.JSON.ExtraFields["cpen_route"]; ok && routeID == "" {
			var r cpenRoute
			if err := json.Unmarshal([]byte(f.Raw()), &r); err != nil {
				log.Fatal(err)
			}
			routeID = r.RouteID
		}
		if f, ok := chunk.JSON.ExtraFields["cpen_status"]; ok {
			if err := json.Unmarshal([]byte(f.Raw()), &status); err != nil {
				log.Fatal(err)
			}
		}
		if len(chunk.Choices) > 0 {
			text += chunk.Choices[0].Delta.Content
		}
	}
	if err := stream.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("stream", routeID, status, map[bool]string{true: "text", false: "no text"}[text != ""])

	// The sidecar's refusals say whether a retry can help (x-should-retry);
	// the SDK obeys it, so these fail at once instead of being retried.
	for _, c := range []struct {
		model   string
		routing map[string]any
	}{{"cpen/middle", map[string]any{"max_total_per_1m": "0.01"}}, {"cpen/high", map[string]any{}}} {
		p := params
		p.Model = c.model
		_, err := client.Chat.Completions.New(ctx, p, option.WithJSONSet("routing", c.routing))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			log.Fatalf("%s: want a refusal, got %v", c.model, err)
		}
		fmt.Println("refused", apiErr.StatusCode, apiErr.Code, apiErr.Response.Header.Get("x-should-retry"))
	}
}
