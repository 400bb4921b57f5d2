package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cpen/router/extproc/jsonbody"
)

const receiptSchema = `{"type":"object","properties":{"payer":{"type":"string"},"amount":{"type":"number"}},"required":["payer"]}`

// body builds an extraction body from raw members.
func body(members ...string) []byte {
	return []byte("{" + strings.Join(members, ",") + "}")
}

const (
	mModel  = `"model":"cpen/middle"`
	mInput  = `"input":"Alice paid 12.50 USD for a notebook."`
	mSchema = `"schema":` + receiptSchema
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name           string
		body           []byte
		wantInput      string
		wantRouting    string
		wantHasRouting bool
		wantTemp       string
		wantMaxTokens  int
	}{
		{
			name:      "minimal",
			body:      body(mModel, mInput, mSchema),
			wantInput: "Alice paid 12.50 USD for a notebook.",
		},
		{
			name:           "every optional field",
			body:           body(mSchema, `"routing":{"strategy":"cheapest"}`, `"temperature":0.2`, `"max_tokens":256`, mInput, mModel),
			wantInput:      "Alice paid 12.50 USD for a notebook.",
			wantRouting:    `{"strategy":"cheapest"}`,
			wantHasRouting: true,
			wantTemp:       "0.2",
			wantMaxTokens:  256,
		},
		{
			name:      "null routing, temperature and max_tokens are not sent",
			body:      body(mModel, mInput, mSchema, `"routing":null`, `"temperature":null`, `"max_tokens":null`),
			wantInput: "Alice paid 12.50 USD for a notebook.",
		},
		{
			// The caller's routing parser judges the block, not this one.
			name:           "routing kept raw even when it is not an object",
			body:           body(mModel, mInput, mSchema, `"routing":"cheap"`),
			wantInput:      "Alice paid 12.50 USD for a notebook.",
			wantRouting:    `"cheap"`,
			wantHasRouting: true,
		},
		{
			name:      "escaped keys and input",
			body:      body(`"mod\u0065l":"cpen/middle"`, `"input":"caf\u00e9 \"x\""`, `"sch\u0065ma":{"type":"object"}`),
			wantInput: `café "x"`,
		},
		{
			name:      "draft-07 schema and a local $ref",
			body:      body(mModel, mInput, `"schema":{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"m":{"type":"number"}},"properties":{"amount":{"$ref":"#/definitions/m"}}}`),
			wantInput: "Alice paid 12.50 USD for a notebook.",
		},
		{
			name:      "a $ref through the schema's own $id is local",
			body:      body(mModel, mInput, `"schema":{"$id":"https://example.com/receipt.json","$defs":{"m":{"type":"number"}},"properties":{"amount":{"$ref":"https://example.com/receipt.json#/$defs/m"}}}`),
			wantInput: "Alice paid 12.50 USD for a notebook.",
		},
		{
			name:      "recursive schema",
			body:      body(mModel, mInput, `"schema":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#"}}}}`),
			wantInput: "Alice paid 12.50 USD for a notebook.",
		},
		{
			name:          "schema exactly at the size limit",
			body:          body(mModel, mInput, `"schema":{"description":"`+strings.Repeat("x", DefaultMaxSchemaBytes-18)+`"}`, `"max_tokens":1000000`),
			wantInput:     "Alice paid 12.50 USD for a notebook.",
			wantMaxTokens: 1000000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest(tt.body, 0, 0)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if r.Model != "cpen/middle" || r.Input != tt.wantInput {
				t.Errorf("model %q input %q, want cpen/middle %q", r.Model, r.Input, tt.wantInput)
			}
			if string(r.Routing) != tt.wantRouting || r.HasRouting != tt.wantHasRouting {
				t.Errorf("routing %q %v, want %q %v", r.Routing, r.HasRouting, tt.wantRouting, tt.wantHasRouting)
			}
			if string(r.Temperature) != tt.wantTemp || r.MaxTokens != tt.wantMaxTokens {
				t.Errorf("temperature %q max_tokens %d, want %q %d", r.Temperature, r.MaxTokens, tt.wantTemp, tt.wantMaxTokens)
			}
			if r.Schema[0] != '{' || r.compiled == nil {
				t.Errorf("schema %q compiled %v", r.Schema, r.compiled != nil)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	remote := func(ref string) []byte { return body(mModel, mInput, `"schema":{"$ref":"`+ref+`"}`) }
	var chain []string
	for i := range 30 {
		chain = append(chain, fmt.Sprintf(`"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	exponential := body(mModel, mInput, `"schema":{"$defs":{`+strings.Join(chain, ",")+`,"d30":{"type":"string"}},"$ref":"#/$defs/d0"}`)

	tests := []struct {
		name     string
		body     []byte
		max      int
		wantErr  string
		wantCode string
	}{
		{name: "model missing", body: body(mInput, mSchema), wantErr: "model is required", wantCode: "invalid_request"},
		{name: "input missing", body: body(mModel, mSchema), wantErr: "input is required", wantCode: "invalid_request"},
		{name: "schema missing", body: body(mModel, mInput), wantErr: "schema is required", wantCode: "invalid_schema"},
		{name: "empty object", body: body(), wantErr: "model is required", wantCode: "invalid_request"},
		{name: "model not a string", body: body(`"model":3`, mInput, mSchema), wantErr: "model must be a string", wantCode: "invalid_request"},
		{name: "input not a string", body: body(mModel, `"input":["a"]`, mSchema), wantErr: "input must be a string", wantCode: "invalid_request"},
		{name: "input null", body: body(mModel, `"input":null`, mSchema), wantErr: "input must be a string", wantCode: "invalid_request"},
		{name: "input empty", body: body(mModel, `"input":""`, mSchema), wantErr: "input must not be empty", wantCode: "invalid_request"},
		{name: "input blank", body: body(mModel, `"input":" \n\t"`, mSchema), wantErr: "input must not be empty", wantCode: "invalid_request"},
		{name: "schema array", body: body(mModel, mInput, `"schema":[]`), wantErr: "schema must be a JSON object", wantCode: "invalid_schema"},
		{name: "schema string", body: body(mModel, mInput, `"schema":"{}"`), wantErr: "schema must be a JSON object", wantCode: "invalid_schema"},
		{name: "schema true", body: body(mModel, mInput, `"schema":true`), wantErr: "schema must be a JSON object", wantCode: "invalid_schema"},
		{name: "schema null", body: body(mModel, mInput, `"schema":null`), wantErr: "schema must be a JSON object", wantCode: "invalid_schema"},
		{name: "schema over the limit", body: body(mModel, mInput, mSchema), max: len(receiptSchema) - 1,
			wantErr: fmt.Sprintf("schema must be at most %d bytes", len(receiptSchema)-1), wantCode: "invalid_schema"},
		{name: "schema over the default limit", body: body(mModel, mInput, `"schema":{"description":"`+strings.Repeat("x", DefaultMaxSchemaBytes-17)+`"}`),
			wantErr: "schema must be at most 65536 bytes", wantCode: "invalid_schema"},
		{name: "unknown type", body: body(mModel, mInput, `"schema":{"type":"objekt"}`),
			wantErr: `schema is not a valid JSON Schema: /type: "objekt" is not a type (use array, boolean, integer, null, number, object or string)`, wantCode: "invalid_schema"},
		{name: "unknown nested type", body: body(mModel, mInput, `"schema":{"properties":{"a/b":{"type":"strin"}}}`),
			wantErr: `schema is not a valid JSON Schema: /properties/a~1b/type: "strin" is not a type (use array, boolean, integer, null, number, object or string)`, wantCode: "invalid_schema"},
		{name: "unknown type in a list", body: body(mModel, mInput, `"schema":{"type":["string","nul"]}`),
			wantErr: "schema is not a valid JSON Schema: /type: value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'", wantCode: "invalid_schema"},
		{name: "negative minLength", body: body(mModel, mInput, `"schema":{"properties":{"a":{"minLength":-1}}}`),
			wantErr: "schema is not a valid JSON Schema: /properties/a/minLength: minimum: got -1, want 0", wantCode: "invalid_schema"},
		{name: "regexp the engine refuses", body: body(mModel, mInput, `"schema":{"pattern":"(?=a)"}`),
			wantErr: "schema is not a valid JSON Schema: /pattern: '(?=a)' is not valid regex: error parsing regexp: invalid or unsupported Perl syntax: `(?=`", wantCode: "invalid_schema"},
		{name: "local $ref to nothing", body: remote("#/$defs/missing"),
			wantErr: `schema is not a valid JSON Schema: json-pointer in "#/$defs/missing" not found`, wantCode: "invalid_schema"},
		{name: "remote $ref over https", body: remote("https://example.com/receipt.json"),
			wantErr: `schema refers to "https://example.com/receipt.json", outside the schema: only references within the schema are resolved`, wantCode: "invalid_schema"},
		{name: "remote $ref over http with a fragment", body: remote("http://169.254.169.254/latest#/a"),
			wantErr: `schema refers to "http://169.254.169.254/latest", outside the schema: only references within the schema are resolved`, wantCode: "invalid_schema"},
		{name: "file $ref", body: remote("file:///etc/passwd"),
			wantErr: `schema refers to "file:///etc/passwd", outside the schema: only references within the schema are resolved`, wantCode: "invalid_schema"},
		{name: "relative $ref", body: remote("other.json"),
			wantErr: `schema refers to "other.json", outside the schema: only references within the schema are resolved`, wantCode: "invalid_schema"},
		{name: "relative $ref under the schema's $id", body: body(mModel, mInput, `"schema":{"$id":"https://example.com/a.json","properties":{"x":{"$ref":"b.json"}}}`),
			wantErr: `schema refers to "https://example.com/b.json", outside the schema: only references within the schema are resolved`, wantCode: "invalid_schema"},
		{name: "$ref to a built-in metaschema", body: remote("https://json-schema.org/draft/2020-12/schema"),
			wantErr: `schema refers to "https://json-schema.org/draft/2020-12/schema", outside the schema: only references within the schema are resolved`, wantCode: "invalid_schema"},
		{name: "custom $schema", body: body(mModel, mInput, `"schema":{"$schema":"https://example.com/meta","type":"object"}`),
			wantErr: `schema refers to "https://example.com/meta", outside the schema: only references within the schema are resolved`, wantCode: "invalid_schema"},
		{name: "$ref cycle that never descends", body: body(mModel, mInput, `"schema":{"$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"}]},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`),
			wantErr: `schema has a reference cycle that never moves into the value, at "#/$defs/a"`, wantCode: "invalid_schema"},
		{name: "$ref that doubles at every level", body: exponential,
			wantErr: "schema is too complex: with every $ref expanded it has more than 20000 subschemas", wantCode: "invalid_schema"},
		{name: "nested too deep", body: body(mModel, mInput, `"schema":`+strings.Repeat(`{"items":`, 64)+`{}`+strings.Repeat(`}`, 64)),
			wantErr: "schema is nested more than 64 levels deep", wantCode: "invalid_schema"},
		{name: "huge exponent", body: body(mModel, mInput, `"schema":{"maximum":1e999999}`),
			wantErr: "schema has a number with an exponent beyond ±1000", wantCode: "invalid_schema"},
		{name: "temperature string", body: body(mModel, mInput, mSchema, `"temperature":"0.2"`), wantErr: "temperature must be a number", wantCode: "invalid_request"},
		{name: "temperature huge exponent", body: body(mModel, mInput, mSchema, `"temperature":2e99999`), wantErr: "temperature is out of range", wantCode: "invalid_request"},
		{name: "max_tokens fraction", body: body(mModel, mInput, mSchema, `"max_tokens":2.5`),
			wantErr: "max_tokens must be an integer from 1 to 1000000", wantCode: "invalid_request"},
		{name: "max_tokens exponent", body: body(mModel, mInput, mSchema, `"max_tokens":6e1`),
			wantErr: "max_tokens must be an integer from 1 to 1000000", wantCode: "invalid_request"},
		{name: "max_tokens zero", body: body(mModel, mInput, mSchema, `"max_tokens":0`),
			wantErr: "max_tokens must be an integer from 1 to 1000000", wantCode: "invalid_request"},
		{name: "max_tokens too large", body: body(mModel, mInput, mSchema, `"max_tokens":1000001`),
			wantErr: "max_tokens must be an integer from 1 to 1000000", wantCode: "invalid_request"},
		{name: "max_tokens string", body: body(mModel, mInput, mSchema, `"max_tokens":"10"`),
			wantErr: "max_tokens must be an integer from 1 to 1000000", wantCode: "invalid_request"},
		{name: "unknown field", body: body(mModel, mInput, mSchema, `"stream":true`), wantErr: "stream is not a known field", wantCode: "invalid_request"},
		{name: "unknown field before a bad one", body: body(`"messages":[]`, `"model":1`), wantErr: "messages is not a known field", wantCode: "invalid_request"},
		{name: "schema twice", body: body(mModel, mInput, mSchema, `"schema":{}`), wantErr: "schema appears twice", wantCode: "invalid_schema"},
		{name: "model twice, escaped", body: body(mModel, mInput, mSchema, `"m\u006fdel":"cpen/low"`), wantErr: "model appears twice", wantCode: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A body bound above the schema's own, so that the schema's is met first.
			r, err := ParseRequest(tt.body, tt.max, 1000)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseRequest = %v, %v; want *FieldError %q", r, err, tt.wantErr)
			}
			if r != nil {
				t.Errorf("request %+v returned with an error", r)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.wantErr)
			}
			if fe.Code() != tt.wantCode {
				t.Errorf("code %q, want %q", fe.Code(), tt.wantCode)
			}
		})
	}
}

// A body that is not an object gets the same errors as a chat body, so
// the caller replies to both alike.
func TestParseRequestNotObject(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{name: "empty", body: "", want: jsonbody.ErrMalformed},
		{name: "truncated", body: `{"model":"cpen/middle"`, want: jsonbody.ErrMalformed},
		{name: "trailing data", body: `{} {}`, want: jsonbody.ErrMalformed},
		{name: "array", body: `[{"model":"cpen/middle"}]`, want: jsonbody.ErrNotObject},
		{name: "string", body: `"x"`, want: jsonbody.ErrNotObject},
		{name: "nested past the body bound", body: `{"model":"cpen/middle","input":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
			want: jsonbody.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseRequest([]byte(tt.body), 0, 0); !errors.Is(err, tt.want) {
				t.Errorf("ParseRequest = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUpstreamBody(t *testing.T) {
	r := parseTestdata(t)
	got := r.UpstreamBody("provider-model-x")
	checkGolden(t, "upstream.golden.json", got)

	var top map[string]json.RawMessage
	if err := json.Unmarshal(got, &top); err != nil {
		t.Fatal(err)
	}
	if _, ok := top["routing"]; ok {
		t.Error("routing reached the upstream body")
	}
	var sent, schema any
	if err := json.Unmarshal(r.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	var rf struct {
		JSONSchema struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(top["response_format"], &rf); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rf.JSONSchema.Schema, &sent); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sent) != fmt.Sprint(schema) {
		t.Errorf("schema sent upstream\n%s\nis not the client's\n%s", rf.JSONSchema.Schema, r.Schema)
	}
}

func TestUpstreamBodyWithoutOptions(t *testing.T) {
	r, err := ParseRequest(body(mModel, mInput, mSchema), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := r.UpstreamBody("m")
	for _, key := range []string{`"temperature"`, `"max_tokens"`, `"routing"`} {
		if bytes.Contains(got, []byte(key)) {
			t.Errorf("%s in %s", key, got)
		}
	}
}

// FuzzParseExtraction: ParseRequest never panics, and either returns a
// typed error or a request whose upstream body is JSON without routing
// and whose schema can check an answer.
func FuzzParseExtraction(f *testing.F) {
	f.Add(readTestdata(f, "extraction.in.json"))
	seeds := [][]byte{
		body(mModel, mInput, mSchema),
		body(mModel, mInput, `"schema":{"$ref":"https://example.com/s.json"}`),
		body(mModel, mInput, `"schema":{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`),
		body(mModel, mInput, `"schema":{"type":"array","items":{"$ref":"#"},"prefixItems":[{"const":1}],"uniqueItems":true}`),
		body(mModel, mInput, `"schema":{"$schema":"http://json-schema.org/draft-04/schema#","dependencies":{"a":{"required":["b"]}},"items":[{}]}`),
		body(mModel, mInput, `"schema":{"$dynamicAnchor":"m","properties":{"x":{"$dynamicRef":"#m"}},"patternProperties":{"^y":{"multipleOf":0.01}}}`),
		body(mModel, `"input":""`, `"schema":[]`, `"routing":null`, `"max_tokens":1`, `"temperature":-1e3`),
		[]byte(`[]`),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	answers := [][]byte{
		[]byte(`{"id":"c","choices":[{"message":{"content":"{\"payer\":\"A\",\"amount\":1.5,\"x\":[1,\"y\",null,{}]}"}}]}`),
		[]byte(`{"choices":[{"message":{"content":"` + "```json\\n[1,2,{\\\"a\\\":true}]\\n```" + `"}}]}`),
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b, 4096, 0)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) && !errors.Is(err, jsonbody.ErrMalformed) && !errors.Is(err, jsonbody.ErrNotObject) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if r != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		if r.compiled == nil || len(r.Schema) > 4096 || r.Schema[0] != '{' || strings.TrimSpace(r.Input) == "" {
			t.Fatalf("accepted an invalid request: %+v", r)
		}
		up := r.UpstreamBody("m")
		var top map[string]json.RawMessage
		if err := json.Unmarshal(up, &top); err != nil {
			t.Fatalf("upstream body is not a JSON object: %v\n%s", err, up)
		}
		if _, ok := top["routing"]; ok {
			t.Fatal("routing reached the upstream body")
		}
		for _, a := range answers {
			res, err := r.Result(a)
			var inv *InvalidOutputError
			switch {
			case err == nil:
				if !json.Valid(res.Body("cpen/middle", "0.00001056", nil)) {
					t.Fatal("success body is not JSON")
				}
			case errors.As(err, &inv):
				if !json.Valid(inv.Body("cpen/middle", "0.00001056", nil, "invalid_request_error", "invalid_output")) {
					t.Fatal("422 body is not JSON")
				}
			default:
				t.Fatalf("Result: %v", err)
			}
		}
	})
}
