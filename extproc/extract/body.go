package extract

import (
	"bytes"
	"encoding/json"
)

// systemPrompt asks for the answer alone. The schema is repeated in the
// prompt because not every provider honours response_format; the answer is
// validated either way.
const systemPrompt = "You extract structured data from the user's message. " +
	"Reply with exactly one JSON value that follows the JSON Schema below, and nothing else: " +
	"no prose, no explanation, no Markdown code fence.\n\nJSON Schema:\n"

type upstreamMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type jsonSchemaFormat struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	// Strict stays false: OpenAI's strict mode accepts only a subset of
	// JSON Schema (every property required, no additionalProperties
	// true), and the client's schema is taken as written.
	Strict bool `json:"strict"`
}

type responseFormat struct {
	Type       string           `json:"type"`
	JSONSchema jsonSchemaFormat `json:"json_schema"`
}

type upstreamBody struct {
	Model          string            `json:"model"`
	Messages       []upstreamMessage `json:"messages"`
	ResponseFormat responseFormat    `json:"response_format"`
	Temperature    json.RawMessage   `json:"temperature,omitempty"`
	MaxTokens      int               `json:"max_tokens,omitempty"`
}

// UpstreamBody is the chat completion sent to the provider for this
// request, with the provider's own model name. "routing" never goes
// upstream. It returns nil only if the request's raw JSON parts were not
// valid JSON, which ParseRequest rules out.
func (r *Request) UpstreamBody(upstreamModel string) []byte {
	var schema bytes.Buffer
	if err := json.Compact(&schema, r.Schema); err != nil {
		return nil
	}
	b := upstreamBody{
		Model: upstreamModel,
		Messages: []upstreamMessage{
			{Role: "system", Content: systemPrompt + schema.String()},
			{Role: "user", Content: r.Input},
		},
		ResponseFormat: responseFormat{
			Type:       "json_schema",
			JSONSchema: jsonSchemaFormat{Name: "extraction", Schema: schema.Bytes()},
		},
		Temperature: r.Temperature,
		MaxTokens:   r.MaxTokens,
	}
	// The input is the client's text: marshal keeps "<" as "<".
	return marshal(b)
}

// resultReply is the 200 reply.
type resultReply struct {
	ID         string          `json:"id"`
	Object     string          `json:"object"`
	Model      string          `json:"model"`
	Output     json.RawMessage `json:"output"`
	Usage      json.RawMessage `json:"usage"`
	CPENStatus string          `json:"cpen_status"`
	CPENCost   string          `json:"cpen_cost_usd"`
	CPENRoute  json.RawMessage `json:"cpen_route"`
}

// Body is the 200 reply to the client. cost is the request's cost in USD
// as a decimal string; routeJSON is the rendered cpen_route object.
func (res *Result) Body(alias, cost string, routeJSON []byte) []byte {
	return marshal(resultReply{ID: res.ID, Object: "extraction", Model: alias, Output: res.Output, Usage: res.Usage,
		CPENStatus: "completed", CPENCost: cost, CPENRoute: routeJSON})
}

// InvalidOutputDetail is the 422 detail; the errors list carries the
// specifics.
const InvalidOutputDetail = "Extraction output does not match the schema"

type errorObject struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}

// invalidOutputReply is the 422 reply.
type invalidOutputReply struct {
	Detail     string          `json:"detail"`
	Error      errorObject     `json:"error"`
	Errors     []string        `json:"errors"`
	Output     json.RawMessage `json:"output"`
	Model      string          `json:"model"`
	CPENStatus string          `json:"cpen_status"`
	CPENCost   string          `json:"cpen_cost_usd"`
	CPENRoute  json.RawMessage `json:"cpen_route"`
}

// Body is the 422 reply to the client: both error shapes (detail, and an
// OpenAI-style error object of the given type and code), plus the
// validation errors and the answer that failed them. The provider answered
// and billed, so the reply carries the request's cost.
func (e *InvalidOutputError) Body(alias, cost string, routeJSON []byte, errType, code string) []byte {
	errs := e.Errors
	if errs == nil {
		errs = []string{}
	}
	return marshal(invalidOutputReply{Detail: InvalidOutputDetail,
		Error:  errorObject{Message: InvalidOutputDetail, Type: errType, Code: code},
		Errors: errs, Output: e.Output, Model: alias, CPENStatus: "invalid_output", CPENCost: cost, CPENRoute: routeJSON})
}

// marshal renders a reply without HTML escaping: the client's text stays
// as written. Its values are strings and JSON already compacted, so
// encoding cannot fail; nil is returned if it ever did.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// quoteJSON renders s as a JSON string, as marshal would.
func quoteJSON(s string) json.RawMessage { return marshal(s) }
