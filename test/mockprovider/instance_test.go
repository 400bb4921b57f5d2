package mockprovider_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cpen/router/test/mockprovider"
)

// validate compiles schema as draft 2020-12, the draft the sidecar checks answers with, and
// reports whether instance is valid against it.
func validate(t *testing.T, schema, instance []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem:///schema.json", doc); err != nil {
		t.Fatalf("add schema: %v", err)
	}
	sch, err := c.Compile("mem:///schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(instance))
	if err != nil {
		t.Fatalf("instance %s is not JSON: %v", instance, err)
	}
	return sch.Validate(v)
}

func TestInstanceIsValid(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   string // the exact instance
	}{
		{
			name:   "e2e extraction schema",
			schema: `{"type":"object","properties":{"payer":{"type":"string"},"amount":{"type":"number"}},"required":["payer","amount"]}`,
			want:   `{"amount":0,"payer":"example"}`,
		},
		{
			name: "extract testdata schema",
			schema: `{"type":"object","properties":{"payer":{"type":"string"},"amount":{"type":"number","minimum":0},
				"currency":{"enum":["USD","EUR"]},"item":{"type":"string"}},
				"required":["payer","amount","currency"],"additionalProperties":false}`,
			want: `{"amount":0,"currency":"USD","item":"example","payer":"example"}`,
		},
		{name: "string", schema: `{"type":"string"}`, want: `"example"`},
		{name: "string min length", schema: `{"type":"string","minLength":10}`, want: `"examplexxx"`},
		{name: "string max length", schema: `{"type":"string","maxLength":3}`, want: `"exa"`},
		{name: "date format", schema: `{"type":"string","format":"date"}`, want: `"2024-01-02"`},
		{name: "boolean", schema: `{"type":"boolean"}`, want: `true`},
		{name: "null", schema: `{"type":"null"}`, want: `null`},
		{name: "nullable string", schema: `{"type":["null","string"]}`, want: `"example"`},
		{name: "integer", schema: `{"type":"integer"}`, want: `0`},
		{name: "integer above fractional minimum", schema: `{"type":"integer","minimum":2.5}`, want: `3`},
		{name: "integer exclusive minimum", schema: `{"type":"integer","exclusiveMinimum":3}`, want: `4`},
		{name: "integer below maximum", schema: `{"type":"integer","maximum":-7}`, want: `-7`},
		{name: "integer multiple of 0.5", schema: `{"type":"integer","minimum":1.2,"multipleOf":0.5}`, want: `2`},
		{name: "number minimum", schema: `{"type":"number","minimum":12.5}`, want: `12.5`},
		{name: "number exclusive range", schema: `{"type":"number","exclusiveMinimum":0.1,"exclusiveMaximum":0.2}`, want: `0.15`},
		{name: "number multipleOf", schema: `{"type":"number","minimum":1,"multipleOf":0.25}`, want: `1`},
		{name: "number multipleOf exclusive", schema: `{"type":"number","exclusiveMinimum":1,"multipleOf":0.25}`, want: `1.25`},
		{name: "const", schema: `{"const":{"a":[1,"b"]}}`, want: `{"a":[1,"b"]}`},
		{name: "enum first", schema: `{"type":"string","enum":["low","high"]}`, want: `"low"`},
		{name: "array min items", schema: `{"type":"array","items":{"type":"integer","minimum":1},"minItems":2}`, want: `[1,1]`},
		{name: "array empty", schema: `{"type":"array","items":{"type":"string"}}`, want: `[]`},
		{name: "prefix items", schema: `{"type":"array","prefixItems":[{"type":"string"},{"type":"boolean"}],"minItems":2}`, want: `["example",true]`},
		{
			name: "nested objects",
			schema: `{"type":"object","required":["invoice"],"properties":{"invoice":{"type":"object",
				"required":["lines","total"],"properties":{"total":{"type":"number","minimum":1},
				"lines":{"type":"array","minItems":1,"items":{"type":"object","required":["sku"],
				"properties":{"sku":{"type":"string","minLength":3},"qty":{"type":"integer","minimum":1}}}}}}}}`,
			want: `{"invoice":{"lines":[{"qty":1,"sku":"example"}],"total":1}}`,
		},
		{
			name: "ref to defs",
			schema: `{"$defs":{"person":{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}},
				"type":"object","required":["buyer"],"properties":{"buyer":{"$ref":"#/$defs/person"}}}`,
			want: `{"buyer":{"name":"example"}}`,
		},
		{
			name: "recursive tree stops at optional children",
			schema: `{"$defs":{"node":{"type":"object","required":["id"],"properties":{"id":{"type":"integer"},
				"children":{"type":"array","items":{"$ref":"#/$defs/node"},"minItems":1}}}},"$ref":"#/$defs/node"}`,
		},
		{
			name: "allOf merged",
			schema: `{"allOf":[{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}},
				{"required":["b"],"properties":{"b":{"type":"integer","minimum":5}}}]}`,
			want: `{"a":"example","b":5}`,
		},
		{name: "anyOf first branch", schema: `{"anyOf":[{"type":"number","minimum":3},{"type":"string"}]}`, want: `3`},
		{name: "required but undeclared", schema: `{"type":"object","required":["x"],"additionalProperties":{"type":"boolean"}}`, want: `{"x":true}`},
		{name: "true schema", schema: `true`, want: `null`},
		{name: "empty schema", schema: `{}`, want: `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mockprovider.Instance([]byte(tt.schema))
			if err != nil {
				t.Fatalf("Instance: %v", err)
			}
			if err := validate(t, []byte(tt.schema), got); err != nil {
				t.Errorf("instance %s is not valid: %v", got, err)
			}
			if tt.want != "" && string(got) != tt.want {
				t.Errorf("instance %s, want %s", got, tt.want)
			}
		})
	}
}

func TestInstanceUnsatisfiable(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   string
	}{
		{name: "false schema", schema: `false`, want: "false schema"},
		{name: "required false property", schema: `{"type":"object","required":["a"],"properties":{"a":false}}`, want: "false schema"},
		{name: "remote ref", schema: `{"$ref":"https://example.com/s.json"}`, want: "not a pointer inside"},
		{name: "dangling ref", schema: `{"$ref":"#/$defs/missing"}`, want: "does not resolve"},
		{name: "required recursion", schema: `{"$defs":{"n":{"type":"object","required":["next"],"properties":{"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`, want: "nested more than"},
		{name: "empty range", schema: `{"type":"integer","minimum":1.1,"maximum":1.9}`, want: "no number fits"},
		{name: "not JSON", schema: `{`, want: "no instance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mockprovider.Instance([]byte(tt.schema))
			if !errors.Is(err, mockprovider.ErrUnsatisfiable) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Instance = %s, %v; want ErrUnsatisfiable with %q", got, err, tt.want)
			}
		})
	}
}
