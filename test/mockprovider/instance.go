package mockprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// ErrUnsatisfiable means a schema admits no value the generator can build:
// a false schema, a $ref it cannot resolve, nesting past maxInstanceDepth.
var ErrUnsatisfiable = errors.New("mockprovider: no instance for schema")

// maxInstanceDepth bounds nesting, so a recursive schema that requires
// itself (a node whose required child is a node) ends in an error, not a
// stack overflow.
const maxInstanceDepth = 32

// optionalDepth is how deep optional properties are filled in. Past it only
// required ones are, so a tree with an optional child list stops growing.
const optionalDepth = 4

// sampleString is the text of generated strings, cut or padded to the
// schema's length bounds.
const sampleString = "example"

// Instance returns a small JSON value that is valid against schema, the way
// a provider honouring structured output answers. It covers the keywords
// extraction schemas use: type (the first non-null one of a list), const,
// enum (the first value), properties with required (every declared property
// is filled in near the top, the required ones all the way down), items,
// prefixItems and minItems, minLength and maxLength, minimum, maximum, their
// exclusive forms and multipleOf (exact decimals), $ref to "#" or a JSON
// pointer inside the schema ($defs, definitions), allOf (merged), anyOf and
// oneOf (the first branch), and common string formats. It does not solve
// pattern, not, if/then/else, uniqueItems with repeated items or
// minProperties beyond the declared properties; such schemas may get a
// value that does not validate, as a real model's answer may.
func Instance(schema []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber() // bounds stay exact decimals, never floats
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsatisfiable, err)
	}
	g := generator{root: root}
	v, err := g.value(root, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

type generator struct {
	root any
}

func unsatisfiable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsatisfiable}, args...)...)
}

func (g generator) value(schema any, depth int) (any, error) {
	if depth > maxInstanceDepth {
		return nil, unsatisfiable("nested more than %d levels (a required recursion?)", maxInstanceDepth)
	}
	switch s := schema.(type) {
	case bool:
		if !s {
			return nil, unsatisfiable("the false schema admits nothing")
		}
		return nil, nil
	case map[string]any:
		return g.object(s, depth)
	}
	return nil, unsatisfiable("a schema must be an object or a boolean, got %T", schema)
}

func (g generator) object(s map[string]any, depth int) (any, error) {
	if ref, ok := s["$ref"].(string); ok {
		target, err := g.resolve(ref)
		if err != nil {
			return nil, err
		}
		// In draft 2020 keywords next to $ref apply too; merging them covers
		// the usual {"$ref": ..., "description": ...}.
		s = merge(without(s, "$ref"), target)
		if _, still := s["$ref"]; still {
			return g.value(s, depth+1)
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		merged := without(s, "allOf")
		for _, part := range all {
			pm, ok := part.(map[string]any)
			if !ok {
				continue
			}
			if ref, ok := pm["$ref"].(string); ok {
				target, err := g.resolve(ref)
				if err != nil {
					return nil, err
				}
				pm = merge(without(pm, "$ref"), target)
			}
			merged = merge(merged, pm)
		}
		return g.value(merged, depth+1)
	}
	if c, ok := s["const"]; ok {
		return c, nil
	}
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		return enum[0], nil
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if branches, ok := s[k].([]any); ok && len(branches) > 0 {
			return g.value(merge(without(s, k), asMap(branches[0])), depth+1)
		}
	}
	switch typeOf(s) {
	case "null":
		return nil, nil
	case "boolean":
		return true, nil
	case "string":
		return stringValue(s), nil
	case "integer":
		return number(s, true)
	case "number":
		return number(s, false)
	case "array":
		return g.array(s, depth)
	case "object":
		return g.properties(s, depth)
	}
	return nil, nil // no type and no hint: any value is valid
}

// resolve follows a $ref inside the schema: "#" or a JSON pointer "#/...".
func (g generator) resolve(ref string) (map[string]any, error) {
	if ref != "#" && !strings.HasPrefix(ref, "#/") {
		return nil, unsatisfiable("$ref %q is not a pointer inside the schema", ref)
	}
	var cur any = g.root
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			cur = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, unsatisfiable("$ref %q does not resolve", ref)
			}
			cur = c[i]
		default:
			return nil, unsatisfiable("$ref %q does not resolve", ref)
		}
	}
	switch t := cur.(type) {
	case map[string]any:
		return t, nil
	case bool:
		if t {
			return map[string]any{}, nil
		}
	}
	return nil, unsatisfiable("$ref %q does not resolve to a satisfiable schema", ref)
}

// typeOf is the schema's type, the first non-null one of a list, or the one
// its keywords imply when it names none.
func typeOf(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		first := ""
		for _, x := range t {
			name, _ := x.(string)
			if first == "" {
				first = name
			}
			if name != "null" {
				return name
			}
		}
		return first
	}
	for _, hint := range []struct{ keyword, typ string }{
		{"properties", "object"}, {"required", "object"}, {"additionalProperties", "object"},
		{"items", "array"}, {"prefixItems", "array"}, {"minItems", "array"},
		{"minLength", "string"}, {"maxLength", "string"}, {"format", "string"}, {"pattern", "string"},
		{"minimum", "number"}, {"maximum", "number"}, {"exclusiveMinimum", "number"},
		{"exclusiveMaximum", "number"}, {"multipleOf", "number"},
	} {
		if _, ok := s[hint.keyword]; ok {
			return hint.typ
		}
	}
	return ""
}

// formatSamples are valid values of the common string formats.
var formatSamples = map[string]string{
	"date-time": "2024-01-02T03:04:05Z",
	"date":      "2024-01-02",
	"time":      "03:04:05Z",
	"email":     "user@example.com",
	"uri":       "https://example.com/",
	"uuid":      "123e4567-e89b-42d3-a456-426614174000",
	"ipv4":      "192.0.2.1",
	"ipv6":      "2001:db8::1",
	"hostname":  "example.com",
}

func stringValue(s map[string]any) string {
	format, _ := s["format"].(string)
	out, ok := formatSamples[format]
	if !ok {
		out = sampleString
	}
	// Lengths count characters (code points); every sample is ASCII.
	if n, ok := count(s["minLength"]); ok && len(out) < n {
		out += strings.Repeat("x", n-len(out))
	}
	if n, ok := count(s["maxLength"]); ok && len(out) > n {
		out = out[:n]
	}
	return out
}

func (g generator) array(s map[string]any, depth int) (any, error) {
	prefix, _ := s["prefixItems"].([]any)
	items := s["items"]
	if tuple, ok := items.([]any); ok { // draft 7 tuple form
		prefix, items = tuple, s["additionalItems"]
	}
	n, _ := count(s["minItems"])
	out := make([]any, 0, n)
	for i := 0; i < n; i++ {
		var item any = true
		switch {
		case i < len(prefix):
			item = prefix[i]
		case items != nil:
			item = items
		}
		v, err := g.value(item, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (g generator) properties(s map[string]any, depth int) (any, error) {
	props, _ := s["properties"].(map[string]any)
	required := map[string]bool{}
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				required[name] = true
			}
		}
	}
	out := map[string]any{}
	for name, sub := range props {
		if !required[name] && depth > optionalDepth {
			continue
		}
		v, err := g.value(sub, depth+1)
		if err != nil {
			if required[name] {
				return nil, err
			}
			continue // an optional property it cannot fill is left out
		}
		out[name] = v
	}
	for name := range required {
		if _, done := out[name]; done {
			continue
		}
		// Required but not declared: additionalProperties says what it holds.
		var sub any = true
		if ap, ok := s["additionalProperties"]; ok {
			sub = ap
		}
		v, err := g.value(sub, depth+1)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// number picks 0 when the bounds allow it, else a value next to the lower
// bound (or the upper one), as an exact decimal: with multipleOf (or for an
// integer) it walks the multiples from the bound inwards.
func number(s map[string]any, integer bool) (any, error) {
	lo, loExcl, hasLo := bound(s, "minimum", "exclusiveMinimum")
	hi, hiExcl, hasHi := bound(s, "maximum", "exclusiveMaximum")
	step, hasStep := dec(s["multipleOf"])
	hasStep = hasStep && step.IsPositive()
	fits := func(v decimal.Decimal) bool {
		switch {
		case hasLo && (v.LessThan(lo) || loExcl && v.Equal(lo)):
			return false
		case hasHi && (v.GreaterThan(hi) || hiExcl && v.Equal(hi)):
			return false
		case integer && !v.IsInteger():
			return false
		case hasStep && !v.Mod(step).IsZero():
			return false
		}
		return true
	}
	one := decimal.NewFromInt(1)
	candidates := []decimal.Decimal{decimal.Zero}
	walk, walking := step, hasStep
	if !walking && integer {
		walk, walking = one, true
	}
	switch {
	case walking:
		// A fractional step for an integer lands on one within a few
		// multiples (0.5 every second one); schemas needing more are rare.
		const tries = 16
		if hasLo {
			k := lo.Div(walk).Ceil()
			for i := int64(0); i < tries; i++ {
				candidates = append(candidates, k.Add(decimal.NewFromInt(i)).Mul(walk))
			}
		}
		if hasHi {
			k := hi.Div(walk).Floor()
			for i := int64(0); i < tries; i++ {
				candidates = append(candidates, k.Sub(decimal.NewFromInt(i)).Mul(walk))
			}
		}
	default:
		if hasLo {
			candidates = append(candidates, lo)
		}
		if hasLo && hasHi {
			candidates = append(candidates, lo.Add(hi).Div(decimal.NewFromInt(2)))
		}
		if hasLo {
			candidates = append(candidates, lo.Add(one))
		}
		if hasHi {
			candidates = append(candidates, hi, hi.Sub(one))
		}
	}
	for _, c := range candidates {
		if fits(c) {
			return json.Number(c.String()), nil
		}
	}
	return nil, unsatisfiable("no number fits the bounds")
}

// bound reads an inclusive keyword and its exclusive form (a number in draft
// 6 and later); the tighter of the two wins.
func bound(s map[string]any, inclusive, exclusive string) (v decimal.Decimal, excl, ok bool) {
	in, hasIn := dec(s[inclusive])
	ex, hasEx := dec(s[exclusive])
	switch {
	case hasIn && hasEx:
		lower := inclusive == "minimum"
		if ex.Equal(in) || (lower && ex.GreaterThan(in)) || (!lower && ex.LessThan(in)) {
			return ex, true, true
		}
		return in, false, true
	case hasEx:
		return ex, true, true
	}
	return in, false, hasIn
}

func dec(v any) (decimal.Decimal, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(n.String())
	return d, err == nil
}

// count reads a non-negative integer keyword such as minItems.
func count(v any) (int, bool) {
	d, ok := dec(v)
	if !ok || !d.IsInteger() || d.IsNegative() || d.GreaterThan(decimal.NewFromInt(1<<16)) {
		return 0, false
	}
	return int(d.IntPart()), true
}

func asMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	if b, ok := v.(bool); ok && !b {
		return map[string]any{"not": map[string]any{}}
	}
	return map[string]any{}
}

func without(s map[string]any, key string) map[string]any {
	out := make(map[string]any, len(s))
	for k, v := range s {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// merge combines two schemas' keywords for one value: properties and
// required are united, any other keyword of b is taken where a lacks it.
func merge(a, b map[string]any) map[string]any {
	out := without(a, "")
	for k, v := range b {
		switch k {
		case "properties":
			props := map[string]any{}
			if ap, ok := out[k].(map[string]any); ok {
				for n, s := range ap {
					props[n] = s
				}
			}
			if bp, ok := v.(map[string]any); ok {
				for n, s := range bp {
					if _, have := props[n]; !have {
						props[n] = s
					}
				}
			}
			out[k] = props
		case "required":
			ar, _ := out[k].([]any)
			br, _ := v.([]any)
			out[k] = append(append([]any(nil), ar...), br...)
		default:
			if _, have := out[k]; !have {
				out[k] = v
			}
		}
	}
	return out
}
