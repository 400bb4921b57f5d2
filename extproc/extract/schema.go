package extract

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/quote"
)

// Limits on a client's schema, beyond its size. Each one keeps a small
// schema from costing the sidecar far more than its size suggests.
const (
	// schemaURL names the schema inside the compiler. It is never fetched;
	// a relative $ref resolves against it to another mem:/// URL, which
	// the loader refuses.
	schemaURL = "mem:///schema.json"

	// maxSchemaDepth bounds object and array nesting. Real extraction
	// schemas stay under a dozen levels; deep nesting only costs recursion
	// in the compiler and the metaschema check.
	maxSchemaDepth = 64

	// maxExponent bounds the exponent of every number in a schema or an
	// answer. The validator turns numbers into exact big.Rat values, and
	// "1e999999" alone takes tens of milliseconds to expand.
	maxExponent = 1000

	// maxUnfoldedNodes bounds the schema as a tree with every $ref
	// expanded once per use. A few kilobytes of $defs that each refer to
	// the next one twice unfold to billions of checks per value, which
	// would stall the stream; real schemas unfold to hundreds.
	maxUnfoldedNodes = 20000

	// maxMsgBytes bounds one error message taken from the compiler or the
	// validator, since both quote parts of the client's data.
	maxMsgBytes = 200
)

// errRemoteRef is what the loader answers for every URL it is asked for:
// the only schema document is the client's own, added up front.
var errRemoteRef = errors.New("references outside the schema are not resolved")

// refuseLoader is the compiler's only loader, so no $ref, $schema or
// $dynamicRef ever reaches the file system or the network.
type refuseLoader struct{}

func (refuseLoader) Load(string) (any, error) { return nil, errRemoteRef }

var _ jsonschema.URLLoader = refuseLoader{}

// compileSchema compiles a schema that setField accepted as an object
// within the size limit. It returns *FieldError on "schema" for anything
// wrong with it.
func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	if msg := checkNumbersAndDepth(raw, maxSchemaDepth); msg != "" {
		return nil, schemaError(msg)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, schemaError("is not valid JSON")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, schemaError("could not be loaded")
	}
	sch, err := compileGuarded(c)
	if err != nil {
		return nil, schemaError(compileMessage(err, doc))
	}
	// The draft metaschemas are built into the library and resolve without
	// the loader; a $ref to one is still a reference outside the schema.
	if loc := foreignLocation(sch); loc != "" {
		return nil, schemaError(fmt.Sprintf("refers to %s, outside the schema: only references within the schema are resolved",
			quoteShort(strings.TrimSuffix(loc, "#"))))
	}
	if loc := inPlaceCycle(sch); loc != "" {
		return nil, schemaError(fmt.Sprintf("has a reference cycle that never moves into the value, at %s", quoteShort(shortLocation(loc))))
	}
	if unfoldedSize(sch, maxUnfoldedNodes) > maxUnfoldedNodes {
		return nil, schemaError(fmt.Sprintf("is too complex: with every $ref expanded it has more than %d subschemas", maxUnfoldedNodes))
	}
	return sch, nil
}

// compileGuarded runs the compiler on client input and turns a panic
// inside the library into an error: one odd schema must not take the
// sidecar, and every stream on it, down.
func compileGuarded(c *jsonschema.Compiler) (sch *jsonschema.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			sch, err = nil, fmt.Errorf("schema compiler failed: %v", p)
		}
	}()
	return c.Compile(schemaURL)
}

func schemaError(msg string) *FieldError { return &FieldError{Field: "schema", Msg: msg} }

// compileMessage is a one-line reason from a compiler error, without the
// internal document URL.
func compileMessage(err error, doc any) string {
	var (
		load *jsonschema.LoadURLError
		sve  *jsonschema.SchemaValidationError
		ve   *jsonschema.ValidationError
	)
	switch {
	case errors.As(err, &load):
		return fmt.Sprintf("refers to %s, outside the schema: only references within the schema are resolved",
			quoteShort(strings.TrimPrefix(load.URL, "mem:///")))
	case errors.As(err, &sve) && errors.As(sve.Err, &ve):
		if errs, _ := leafErrors(ve, 1); len(errs) > 0 {
			return "is not a valid JSON Schema: " + typeMessage(errs[0], doc)
		}
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return "is not a valid JSON Schema: " + quote.Prefix(strings.ReplaceAll(msg, schemaURL, ""), maxMsgBytes)
}

// shortLocation is a location inside the client's schema as the client
// would write it: "#/$defs/a".
func shortLocation(loc string) string { return strings.TrimPrefix(loc, schemaURL) }

// quoteShort quotes a client-supplied URL for a message, cut to a
// readable length.
func quoteShort(s string) string {
	return fmt.Sprintf("%q", quote.Prefix(s, 100))
}

// checkNumbersAndDepth scans valid JSON for nesting deeper than maxDepth
// and for numbers whose exponent is out of range. It returns a message,
// or "" when the document is within bounds.
func checkNumbersAndDepth(b []byte, maxDepth int) string {
	depth := 0
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			i = jsonbody.StringEnd(b, i)
			continue
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return fmt.Sprintf("is nested more than %d levels deep", maxDepth)
			}
		case c == '}' || c == ']':
			depth--
		case c == '-' || (c >= '0' && c <= '9'):
			j := i
			for j < len(b) && isNumberByte(b[j]) {
				j++
			}
			if !exponentOK(b[i:j]) {
				return fmt.Sprintf("has a number with an exponent beyond ±%d", maxExponent)
			}
			i = j
			continue
		}
		i++
	}
	return ""
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// exponentOK reports whether a JSON number literal has no exponent or one
// within ±maxExponent.
func exponentOK(num []byte) bool {
	i := bytes.IndexAny(num, "eE")
	if i < 0 {
		return true
	}
	exp := num[i+1:]
	if len(exp) > 0 && (exp[0] == '+' || exp[0] == '-') {
		exp = exp[1:]
	}
	exp = bytes.TrimLeft(exp, "0")
	if len(exp) > 4 {
		return false
	}
	n := 0
	for _, c := range exp {
		n = n*10 + int(c-'0')
	}
	return n <= maxExponent
}

// foreignLocation walks the compiled schema and returns the location of
// the first subschema that does not come from the client's document, or
// "" when there is none.
func foreignLocation(root *jsonschema.Schema) string {
	prefix := schemaURL + "#"
	found := ""
	walkSchema(root, func(s *jsonschema.Schema) bool {
		if !strings.HasPrefix(s.Location, prefix) {
			found = s.Location
			return false
		}
		return true
	})
	return found
}

// walkSchema calls fn once for each schema reachable from root, until fn
// returns false.
func walkSchema(root *jsonschema.Schema, fn func(*jsonschema.Schema) bool) {
	seen := map[*jsonschema.Schema]bool{}
	stack := []*jsonschema.Schema{root}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s == nil || seen[s] {
			continue
		}
		seen[s] = true
		if !fn(s) {
			return
		}
		stack = append(stack, children(s)...)
	}
}

// children lists every subschema a schema points to, $ref targets
// included.
func children(s *jsonschema.Schema) []*jsonschema.Schema {
	return append(inPlace(s), descending(s)...)
}

// inPlace lists the subschemas that apply to the same value as s: $ref
// targets and the combinators. It follows the fields of jsonschema.Schema
// in v6.0.3.
func inPlace(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.Ref, s.RecursiveRef, s.Not, s.If, s.Then, s.Else}
	if s.DynamicRef != nil {
		out = append(out, s.DynamicRef.Ref)
	}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	// Map members in key order, so the first problem reported is the same
	// on every run.
	for _, k := range slices.Sorted(maps.Keys(s.DependentSchemas)) {
		out = append(out, s.DependentSchemas[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.Dependencies)) {
		if c, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
			out = append(out, c)
		}
	}
	return out
}

// descending lists the subschemas that apply to members or items of the
// value.
func descending(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020,
		s.UnevaluatedItems, s.ContentSchema}
	out = append(out, s.PrefixItems...)
	for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
		out = append(out, s.Properties[k])
	}
	pats := slices.SortedFunc(maps.Keys(s.PatternProperties), func(a, b jsonschema.Regexp) int {
		return strings.Compare(a.String(), b.String())
	})
	for _, k := range pats {
		out = append(out, s.PatternProperties[k])
	}
	for _, v := range []any{s.AdditionalProperties, s.Items, s.AdditionalItems} {
		switch v := v.(type) {
		case *jsonschema.Schema:
			out = append(out, v)
		case []*jsonschema.Schema:
			out = append(out, v...)
		}
	}
	return out
}

// inPlaceCycle returns the location of a schema that reaches itself
// through $ref and combinators alone, or "". The validator would refuse
// every answer with a "reference cycle" error, after the provider was paid;
// refusing the schema up front costs the client nothing.
func inPlaceCycle(root *jsonschema.Schema) string {
	const (
		visiting = 1
		done     = 2
	)
	state := map[*jsonschema.Schema]int{}
	var visit func(s *jsonschema.Schema) string
	visit = func(s *jsonschema.Schema) string {
		switch state[s] {
		case visiting:
			return s.Location
		case done:
			return ""
		}
		state[s] = visiting
		for _, c := range inPlace(s) {
			if c == nil {
				continue
			}
			if loc := visit(c); loc != "" {
				return loc
			}
		}
		state[s] = done
		return ""
	}
	found := ""
	walkSchema(root, func(s *jsonschema.Schema) bool {
		found = visit(s)
		return found == ""
	})
	return found
}

// unfoldedSize counts the schema's subschemas as a tree, each $ref
// expanded where it is used, stopping once the count passes limit. A
// reference back to a schema still being counted (recursion) counts as 1:
// recursion is paid for by the depth of the value, which the body limit
// bounds, while sharing without recursion multiplies the work for every
// value.
func unfoldedSize(root *jsonschema.Schema, limit int) int {
	memo := map[*jsonschema.Schema]int{}
	onStack := map[*jsonschema.Schema]bool{}
	var size func(s *jsonschema.Schema) int
	size = func(s *jsonschema.Schema) int {
		if n, ok := memo[s]; ok {
			return n
		}
		if onStack[s] {
			return 1
		}
		onStack[s] = true
		n := 1
		for _, c := range children(s) {
			if c == nil {
				continue
			}
			n += size(c)
			if n > limit {
				n = limit + 1
				break
			}
		}
		onStack[s] = false
		memo[s] = n
		return n
	}
	return size(root)
}

// simpleTypes are the names a schema's "type" may give.
const simpleTypes = "array, boolean, integer, null, number, object or string"

// typeMessage rewrites the metaschema's complaint about an unknown type
// name. "type" is a name or an array of names, and the validator reports
// the last alternative ("got string, want array"), which reads as if an
// array were required; the client wants to hear that the name is unknown.
func typeMessage(msg string, doc any) string {
	loc, ok := strings.CutSuffix(msg, ": got string, want array")
	if !ok || !strings.HasSuffix(loc, "/type") {
		return msg
	}
	name, ok := atPointer(doc, loc).(string)
	if !ok {
		return msg
	}
	return fmt.Sprintf("%s: %s is not a type (use %s)", loc, quoteShort(name), simpleTypes)
}

// atPointer resolves a JSON pointer ("/properties/a/type") in a decoded
// document; nil when it does not resolve.
func atPointer(doc any, ptr string) any {
	if ptr == "" {
		return doc
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := doc.(type) {
		case map[string]any:
			doc = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			doc = v[i]
		default:
			return nil
		}
	}
	return doc
}
