// Package credit reads, in tokens, what a chat request may cost before it
// is sent (an upper bound of its prompt and output tokens, which a credit
// reservation prices at the chosen route's visible prices) and what it did
// cost after (the provider's usage).
package credit

import (
	"bytes"

	"github.com/cpen/router/extproc/jsonbody"
)

// Settings are the catalog's reservation bounds.
type Settings struct {
	// OutputTokens bounds the output of a request that states no
	// max_completion_tokens or max_tokens.
	OutputTokens int
	// TokensPerMediaPart is the prompt allowance per image or audio part,
	// whose tokens the body's length does not bound.
	TokensPerMediaPart int
}

// Bound is a request's worst case in tokens.
type Bound struct {
	Prompt, Output int64
}

// Of bounds the request whose body, a JSON object already validated, the
// client sent. A token covers at least one byte of text, so the body's
// length bounds the tokens of its text; media parts get the allowance
// each. The output bound is max_completion_tokens, else max_tokens, else
// the catalog's default; a value that is not a plain integer counts as
// absent, since the provider refuses it.
func Of(body []byte, s Settings) Bound {
	var members []jsonbody.Member
	for it := jsonbody.Members(body); it.Next(); {
		members = append(members, it.M)
	}
	return OfMembers(body, members, s)
}

// OfMembers is Of for a body whose top-level members are known already
// (jsonbody.ValidateMembers found them), so the body is not walked again.
func OfMembers(body []byte, members []jsonbody.Member, s Settings) Bound {
	var completion, legacy int64 = -1, -1
	media := 0
	for i := range members {
		m := &members[i]
		switch {
		case m.KeyIs("max_completion_tokens"):
			completion = max(completion, intValue(m.Value(body)))
		case m.KeyIs("max_tokens"):
			legacy = max(legacy, intValue(m.Value(body)))
		case m.KeyIs("messages"):
			media += MediaParts(m.Value(body))
		}
	}
	b := Bound{Prompt: int64(len(body)) + int64(media)*int64(s.TokensPerMediaPart), Output: int64(s.OutputTokens)}
	switch {
	case completion >= 0:
		b.Output = completion
	case legacy >= 0:
		b.Output = legacy
	}
	return b
}

// intValue reads a plain integer value, -1 for anything else.
func intValue(v []byte) int64 {
	n, ok := jsonbody.IntLiteral(v)
	if !ok {
		return -1
	}
	return int64(n)
}

// MediaParts counts the image and audio parts in messages, a valid JSON
// value: each string "image_url" or "input_audio" that stands as a value
// (after a colon) and is not inside another string. A part's type is such
// a value, so no part is missed; another member with one of these values
// is counted too, which only makes the bound larger.
//
// Both names have an underscore sixth: the scan looks for underscores,
// which IndexByte finds many times faster than a search for either word,
// and compares the bytes around each.
func MediaParts(messages []byte) int {
	const image, audio = `"image_url"`, `"input_audio"`
	n := 0
	for i := 0; ; {
		j := bytes.IndexByte(messages[i:], '_')
		if j < 0 {
			return n
		}
		at := i + j
		i = at + 1
		if at < 6 {
			continue
		}
		start := at - 6
		rest := messages[start:]
		if (hasPrefix(rest, image) || hasPrefix(rest, audio)) && isValue(messages, start) {
			n++
		}
	}
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// isValue reports whether the quote at q opens a string that is a member's
// value: unescaped, and preceded by a colon and optional white space. A
// quote inside a string is always escaped in valid JSON.
func isValue(b []byte, q int) bool {
	slashes := 0
	for k := q - 1; k >= 0 && b[k] == '\\'; k-- {
		slashes++
	}
	if slashes%2 == 1 {
		return false
	}
	k := q - 1
	for k >= 0 && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
		k--
	}
	return k >= 0 && b[k] == ':'
}
