// Package extract turns a POST /v1/extractions request into a
// chat completion that asks for structured output, and checks the
// provider's answer against the caller's JSON Schema. It is pure: no gRPC,
// no network, no file system. Schemas never load anything from outside
// themselves, because a client-chosen URL must not make the sidecar fetch
// or read anything.
package extract

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cpen/router/extproc/jsonbody"
)

// DefaultMaxSchemaBytes is used when ParseRequest gets a non-positive
// limit, so a zero-valued setting never means "no schema is accepted".
const DefaultMaxSchemaBytes = 64 << 10

// DefaultMaxDepth is the nesting bound ParseRequest applies when it gets a
// non-positive one: the catalog's default.
const DefaultMaxDepth = 64

// maxTokensLimit bounds max_tokens; no extraction answer comes near it,
// and it keeps the value inside every provider's integer range.
const maxTokensLimit = 1000000

// FieldError is a client error in one field of an extraction body.
type FieldError struct {
	Field string // e.g. "schema", "input"
	Msg   string // e.g. "must be a JSON object"
}

func (e *FieldError) Error() string { return e.Field + " " + e.Msg }

// Code is the error.code of the 400 reply: schema problems are
// told apart from the rest so clients can tell a bad schema from a bad
// request without parsing the text.
func (e *FieldError) Code() string {
	if e.Field == "schema" {
		return "invalid_schema"
	}
	return "invalid_request"
}

// Request is a parsed, checked extraction request. Only ParseRequest
// makes one: the zero value has no compiled schema.
type Request struct {
	Model  string          // the alias as sent, e.g. "cpen/middle"
	Input  string          // the text to extract from
	Schema json.RawMessage // the schema exactly as sent

	// Routing is the raw value of "routing", for the caller's own routing
	// parser; HasRouting is false when it is absent or null.
	Routing    []byte
	HasRouting bool

	Temperature json.RawMessage // the number as sent; nil when not sent
	MaxTokens   int             // 0 when not sent

	compiled *jsonschema.Schema
}

// Bits that mark which top-level members were seen, to refuse duplicates:
// a second "schema" must not slip past the one that was compiled.
const (
	seenModel uint8 = 1 << iota
	seenInput
	seenSchema
	seenRouting
	seenTemperature
	seenMaxTokens
)

// ParseRequest parses and checks an extraction body and compiles its
// schema. A body that is not a JSON object yields jsonbody.ErrMalformed or
// jsonbody.ErrNotObject (the same errors, and so the same replies, as a
// chat body), or jsonbody.ErrTooDeep past maxDepth levels of nesting;
// every other rejection is a *FieldError. Non-positive limits take the
// defaults.
func ParseRequest(body []byte, maxSchemaBytes, maxDepth int) (*Request, error) {
	if maxSchemaBytes <= 0 {
		maxSchemaBytes = DefaultMaxSchemaBytes
	}
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if err := jsonbody.Validate(body, maxDepth); err != nil {
		return nil, err
	}
	r := &Request{}
	var seen uint8
	for it := jsonbody.Members(body); it.Next(); {
		m := &it.M
		bit, err := r.setField(m, m.Value(body), maxSchemaBytes)
		switch {
		case bit == 0:
			return nil, &FieldError{Field: m.KeyString(), Msg: "is not a known field"}
		case seen&bit != 0:
			return nil, &FieldError{Field: m.KeyString(), Msg: "appears twice"}
		case err != nil:
			return nil, err
		}
		seen |= bit
	}
	for _, req := range []struct {
		bit   uint8
		field string
	}{{seenModel, "model"}, {seenInput, "input"}, {seenSchema, "schema"}} {
		if seen&req.bit == 0 {
			return nil, &FieldError{Field: req.field, Msg: "is required"}
		}
	}
	// Compiled last, once the cheap checks passed: it is the costly step.
	sch, err := compileSchema(r.Schema)
	if err != nil {
		return nil, err
	}
	r.compiled = sch
	return r, nil
}

// setField stores one top-level member; bit identifies the field for
// duplicate detection, 0 means the key is unknown. The schema is only
// shape-checked here.
func (r *Request) setField(m *jsonbody.Member, v []byte, maxSchemaBytes int) (uint8, error) {
	switch {
	case m.KeyIs("model"):
		s, ok := jsonString(v)
		if !ok {
			return seenModel, &FieldError{Field: "model", Msg: "must be a string"}
		}
		r.Model = s
		return seenModel, nil
	case m.KeyIs("input"):
		s, ok := jsonString(v)
		if !ok {
			return seenInput, &FieldError{Field: "input", Msg: "must be a string"}
		}
		if strings.TrimSpace(s) == "" {
			return seenInput, &FieldError{Field: "input", Msg: "must not be empty"}
		}
		r.Input = s
		return seenInput, nil
	case m.KeyIs("schema"):
		if v[0] != '{' {
			return seenSchema, &FieldError{Field: "schema", Msg: "must be a JSON object"}
		}
		if len(v) > maxSchemaBytes {
			return seenSchema, &FieldError{Field: "schema", Msg: fmt.Sprintf("must be at most %d bytes", maxSchemaBytes)}
		}
		r.Schema = json.RawMessage(v)
		return seenSchema, nil
	case m.KeyIs("routing"):
		if string(v) != "null" {
			r.Routing, r.HasRouting = v, true
		}
		return seenRouting, nil
	case m.KeyIs("temperature"):
		if string(v) == "null" {
			return seenTemperature, nil
		}
		if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
			return seenTemperature, &FieldError{Field: "temperature", Msg: "must be a number"}
		}
		if !exponentOK(v) {
			return seenTemperature, &FieldError{Field: "temperature", Msg: "is out of range"}
		}
		r.Temperature = json.RawMessage(v)
		return seenTemperature, nil
	case m.KeyIs("max_tokens"):
		if string(v) == "null" {
			return seenMaxTokens, nil
		}
		n, ok := jsonbody.IntLiteral(v)
		if !ok || n < 1 || n > maxTokensLimit {
			return seenMaxTokens, &FieldError{Field: "max_tokens", Msg: fmt.Sprintf("must be an integer from 1 to %d", maxTokensLimit)}
		}
		r.MaxTokens = n
		return seenMaxTokens, nil
	}
	return 0, nil
}

// jsonString decodes a JSON string value; false for any other kind.
func jsonString(v []byte) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}
