package extract

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
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
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	// The input is the client's text; "<" stays "<" rather than "\u003c".
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

// Body is the 200 reply to the client. routeJSON is the
// rendered cpen_route object.
func (res *Result) Body(alias string, routeJSON []byte) []byte {
	b := make([]byte, 0, len(res.ID)+len(alias)+len(res.Output)+len(res.Usage)+len(routeJSON)+128)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, res.ID)
	b = append(b, `,"object":"extraction","model":`...)
	b = appendJSONString(b, alias)
	b = append(b, `,"output":`...)
	b = appendRaw(b, res.Output)
	b = append(b, `,"usage":`...)
	b = appendRaw(b, res.Usage)
	b = append(b, `,"cpen_status":"completed","cpen_route":`...)
	b = appendRaw(b, routeJSON)
	return append(b, '}')
}

// invalidOutputDetail is the 422 detail; the errors list carries the
// specifics.
const invalidOutputDetail = "Extraction output does not match the schema"

// Body is the 422 reply to the client: both error shapes (detail, and an
// OpenAI-style error object; README, Errors), plus the validation errors
// and the answer that failed them.
func (e *InvalidOutputError) Body(alias string, routeJSON []byte) []byte {
	b := make([]byte, 0, len(e.Output)+len(alias)+len(routeJSON)+64*len(e.Errors)+256)
	b = append(b, `{"detail":`...)
	b = appendJSONString(b, invalidOutputDetail)
	b = append(b, `,"error":{"message":`...)
	b = appendJSONString(b, invalidOutputDetail)
	b = append(b, `,"type":"invalid_request_error","code":"invalid_output"},"errors":[`...)
	for i, msg := range e.Errors {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, msg)
	}
	b = append(b, `],"output":`...)
	b = appendRaw(b, e.Output)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, alias)
	b = append(b, `,"cpen_status":"invalid_output","cpen_route":`...)
	b = appendRaw(b, routeJSON)
	return append(b, '}')
}

// appendRaw appends an already-rendered JSON value, or null for none.
func appendRaw(b, raw []byte) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does, so the body is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
