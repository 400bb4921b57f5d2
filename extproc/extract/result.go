package extract

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cpen/router/extproc/quote"
)

// ErrNoContent is returned (wrapped, with the reason) for a chat response
// that carries no answer to check: not a chat completion, no choices, a
// refusal, or empty content. The provider answered but said nothing, so it
// is not the client's schema that failed.
var ErrNoContent = errors.New("chat response has no usable content")

const (
	// maxOutputDepth bounds the nesting of an answer. Validation recurses
	// with the value; an answer deeper than this is not an extraction.
	maxOutputDepth = 256

	// maxReportedErrors bounds the errors listed in a 422: a long array of
	// wrong items would otherwise repeat the same message thousands of
	// times.
	maxReportedErrors = 20
)

// Result is an answer that follows the schema.
type Result struct {
	ID     string          // the provider's completion id
	Output json.RawMessage // the answer, compacted
	Usage  json.RawMessage // the provider's usage, compacted; nil when absent
}

// InvalidOutputError is an answer that is not JSON or does not follow the
// schema: a 422 for the client, who paid for the call and gets to see it.
type InvalidOutputError struct {
	// Errors are "path: message" strings, path being a JSON pointer into
	// the answer ("/" for the whole answer), sorted, at most
	// maxReportedErrors of them plus a count of the rest.
	Errors []string
	// Output is the answer, compacted; when the answer is not JSON at all
	// it is the model's text as a JSON string.
	Output json.RawMessage

	total int // errors found, Errors holding at most maxReportedErrors
}

func (e *InvalidOutputError) Error() string {
	msg := "extraction output does not match the schema"
	if len(e.Errors) > 0 {
		msg += ": " + e.Errors[0]
	}
	if n := max(e.total, len(e.Errors)); n > 1 {
		msg += fmt.Sprintf(" (and %d more)", n-1)
	}
	return msg
}

// chatCompletion is the part of a provider's chat.completion that an
// extraction uses.
type chatCompletion struct {
	ID      string `json:"id"`
	Choices []struct {
		Message struct {
			Content json.RawMessage `json:"content"`
			Refusal *string         `json:"refusal"`
		} `json:"message"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
}

// Result reads the provider's chat completion and checks its answer
// against the schema. It returns *InvalidOutputError for an answer that
// does not follow the schema, an error wrapping ErrNoContent for a
// response without an answer, and *Result otherwise.
func (r *Request) Result(chatResponse []byte) (*Result, error) {
	var cc chatCompletion
	if err := json.Unmarshal(chatResponse, &cc); err != nil {
		return nil, fmt.Errorf("%w: not a chat completion", ErrNoContent)
	}
	if len(cc.Choices) == 0 {
		return nil, fmt.Errorf("%w: no choices", ErrNoContent)
	}
	msg := cc.Choices[0].Message
	content, ok := jsonString(msg.Content)
	switch {
	case !ok && msg.Refusal != nil && *msg.Refusal != "":
		return nil, fmt.Errorf("%w: the model refused", ErrNoContent)
	case !ok:
		return nil, fmt.Errorf("%w: message content is not a string", ErrNoContent)
	case strings.TrimSpace(content) == "":
		return nil, fmt.Errorf("%w: message content is empty", ErrNoContent)
	}

	answer := []byte(stripFence(content))
	if !json.Valid(answer) {
		return nil, &InvalidOutputError{Errors: []string{"/: output is not valid JSON"}, Output: quoteJSON(content)}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, answer); err != nil {
		return nil, fmt.Errorf("compacting extraction output: %w", err)
	}
	if msg := checkNumbersAndDepth(answer, maxOutputDepth); msg != "" {
		return nil, &InvalidOutputError{Errors: []string{"/: output " + msg}, Output: compact.Bytes()}
	}
	// UnmarshalJSON keeps numbers as json.Number, so "12.50" is checked
	// against minimum or multipleOf exactly, not through float64.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(answer))
	if err != nil {
		return nil, fmt.Errorf("decoding extraction output: %w", err)
	}
	if err := validateGuarded(r.compiled, doc); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		errs, total := leafErrors(ve, maxReportedErrors)
		return nil, &InvalidOutputError{Errors: errs, Output: compact.Bytes(), total: total}
	}
	res := &Result{ID: cc.ID, Output: compact.Bytes()}
	if len(cc.Usage) > 0 && string(cc.Usage) != "null" {
		// Compacted so the reply is one line however the provider wrote it;
		// Unmarshal has already checked it is valid JSON.
		var usage bytes.Buffer
		if err := json.Compact(&usage, cc.Usage); err != nil {
			return nil, fmt.Errorf("compacting usage: %w", err)
		}
		res.Usage = usage.Bytes()
	}
	return res, nil
}

// validateGuarded runs the validator on provider output (which the client
// can steer through its input) and turns a panic inside the library into
// an error, for the same reason as compileGuarded.
func validateGuarded(s *jsonschema.Schema, doc any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("schema validator failed: %v", p)
		}
	}()
	return s.Validate(doc)
}

// stripFence removes surrounding white space and one Markdown code fence
// (``` or ```json) around the whole answer: models add one even when told
// not to. Anything else is left for the JSON parser to refuse.
func stripFence(s string) string {
	t := strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(t, "```")
	if !ok {
		return t
	}
	tag, body, ok := strings.Cut(rest, "\n")
	if !ok {
		return t
	}
	if tag = strings.TrimSpace(tag); tag != "" && !strings.EqualFold(tag, "json") {
		return t
	}
	body, ok = strings.CutSuffix(strings.TrimSpace(body), "```")
	if !ok {
		return t
	}
	return strings.TrimSpace(body)
}

// leafErrors flattens a validation error into "path: message" strings,
// one per failed keyword, in path order (array indexes by number; the
// validator walks maps, so its own order changes between runs) and
// without repeats; past limit, one last entry counts the rest. total is
// the number of distinct errors.
func leafErrors(ve *jsonschema.ValidationError, limit int) (errs []string, total int) {
	type leaf struct{ path, msg string }
	var leaves []leaf
	var walk func(u *jsonschema.OutputUnit)
	walk = func(u *jsonschema.OutputUnit) {
		if len(u.Errors) == 0 {
			if u.Error != nil {
				leaves = append(leaves, leaf{u.InstanceLocation, u.Error.String()})
			}
			return
		}
		for i := range u.Errors {
			walk(&u.Errors[i])
		}
	}
	walk(ve.DetailedOutput())
	slices.SortFunc(leaves, func(a, b leaf) int {
		if c := comparePointers(a.path, b.path); c != 0 {
			return c
		}
		return strings.Compare(a.msg, b.msg)
	})
	leaves = slices.Compact(leaves)
	all := make([]string, 0, min(len(leaves), limit+1))
	for i, l := range leaves {
		if i == limit {
			all = append(all, fmt.Sprintf("(and %d more errors)", len(leaves)-limit))
			break
		}
		all = append(all, leafString(l.path, l.msg))
	}
	return all, len(leaves)
}

// comparePointers orders JSON pointers token by token, numbers by value,
// so "/2" comes before "/10".
func comparePointers(a, b string) int {
	for a != "" && b != "" {
		var ta, tb string
		ta, a = nextToken(a)
		tb, b = nextToken(b)
		na, errA := strconv.Atoi(ta)
		nb, errB := strconv.Atoi(tb)
		c := strings.Compare(ta, tb)
		if errA == nil && errB == nil {
			c = cmp.Compare(na, nb)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// nextToken splits "/a/b" into "a" and "/b".
func nextToken(p string) (tok, rest string) {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

func leafString(path, msg string) string {
	if path == "" {
		path = "/"
	}
	return quote.Prefix(path, maxMsgBytes/2) + ": " + quote.Prefix(strings.ReplaceAll(msg, schemaURL, ""), maxMsgBytes)
}
