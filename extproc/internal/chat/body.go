package chat

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/routing"
)

// routedKeys are the top-level keys the sidecar reads or edits: a body may
// hold each at most once, and never in another letter case.
var routedKeys = [...]string{"model", "routing", "stream", "stream_options", "messages"}

// caseVariant reports which routed key m's key matches under Unicode case
// folding without being equal to it.
func caseVariant(m *jsonbody.Member) (string, bool) {
	// Folding keeps a key within three bytes a letter of the original
	// ("K" is three bytes); longer keys cannot match.
	if !m.Escaped {
		if len(m.Key) < len("model") || len(m.Key) > 3*len("stream_options") {
			return "", false
		}
		for _, r := range routedKeys {
			if bytes.EqualFold(m.Key, []byte(r)) {
				return r, true // an exact match was taken by the caller
			}
		}
		return "", false
	}
	k := m.KeyString()
	for _, r := range routedKeys {
		if strings.EqualFold(k, r) && k != r {
			return r, true
		}
	}
	return "", false
}

// chatBody is what the request path reads from the top level of the body.
type chatBody struct {
	model, routing, stream jsonbody.Member
	hasRouting, hasStream  bool
	hasStreamOptions       bool
	alias                  []byte // the model value, unquoted
	// members are the body's top-level members, found by the validating
	// pass.
	members []jsonbody.Member
}

// parseChatBody reads body into cb; buf holds the members of the usual
// body without an allocation.
func parseChatBody(body []byte, maxDepth int, cb *chatBody, buf []jsonbody.Member) error {
	var err error
	if cb.members, err = jsonbody.ValidateMembers(body, maxDepth, buf[:0]); err != nil {
		return depthError(err, maxDepth)
	}
	hasModel, hasMessages := false, false
	for i := range cb.members {
		m := &cb.members[i]
		var slot *jsonbody.Member
		var seen *bool
		switch {
		case m.KeyIs("model"):
			slot, seen = &cb.model, &hasModel
		case m.KeyIs("routing"):
			slot, seen = &cb.routing, &cb.hasRouting
		case m.KeyIs("stream"):
			slot, seen = &cb.stream, &cb.hasStream
		case m.KeyIs("messages"):
			var spare jsonbody.Member
			slot, seen = &spare, &hasMessages
		case m.KeyIs("stream_options"):
			if cb.hasStreamOptions {
				return &routing.FieldError{Field: "stream_options", Msg: "appears twice"}
			}
			cb.hasStreamOptions = true
			continue
		default:
			if k, ok := caseVariant(m); ok {
				// A parser that matches keys case-insensitively (Go's
				// encoding/json is one) could read this one instead of the
				// key we priced and routed: refuse rather than guess.
				return &routing.FieldError{Field: clip(m.KeyString(), maxQuoted), Msg: "is a case variant of " + k + "; send the key once, in lower case"}
			}
			continue
		}
		if *seen {
			return &routing.FieldError{Field: m.KeyString(), Msg: "appears twice"}
		}
		*slot, *seen = *m, true
	}
	if !hasModel {
		return errModelMissing
	}
	raw := cb.model.Value(body)
	if raw[0] != '"' {
		return errModelNotString
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		cb.alias = raw[1 : len(raw)-1]
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return errModelNotString
	}
	cb.alias = []byte(s)
	return nil
}
