// Package jsonbody edits the top level of a JSON object in place: it finds
// members by key and splices bytes, so a large body is never decoded and
// re-encoded as a whole.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrNotObject is returned for a body that is valid JSON but not an object.
var ErrNotObject = errors.New("body must be a JSON object")

// ErrMalformed is returned for a body that is not valid JSON.
var ErrMalformed = errors.New("body is not valid JSON")

// Member is one top-level member of an object; offsets index the body.
type Member struct {
	Key      []byte // the key as written, without quotes (escapes kept)
	Escaped  bool   // Key holds a backslash escape; use KeyString to compare
	KeyStart int    // offset of the key's opening quote
	ValStart int    // offset of the value's first byte
	ValEnd   int    // offset just past the value
}

// KeyString returns the decoded key.
func (m *Member) KeyString() string {
	if !m.Escaped {
		return string(m.Key)
	}
	var s string
	q := make([]byte, 0, len(m.Key)+2)
	q = append(append(append(q, '"'), m.Key...), '"')
	if err := json.Unmarshal(q, &s); err != nil {
		return string(m.Key)
	}
	return s
}

// Value returns the member's raw value.
func (m *Member) Value(body []byte) []byte { return body[m.ValStart:m.ValEnd] }

// ShapeMembers checks, without validating every scalar, that body is one object
// whose top-level members can be walked and spliced: a key, a colon and a
// value each, commas between, and nothing after the closing brace. It is
// for bodies from providers, which are trusted to be JSON; client bodies
// go through Validate.
// It returns the object's top-level members, appended to dst (nil: none
// kept), from the same walk.
func ShapeMembers(body []byte, dst []Member) ([]Member, bool) {
	dst = dst[:0]
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return dst, false
	}
	it := Members(body)
	end := i + 1
	for it.Next() {
		k := skipSpace(body, it.M.KeyStart+len(it.M.Key)+2)
		if k >= len(body) || body[k] != ':' || it.M.ValStart >= len(body) || it.M.ValEnd > len(body) {
			return dst, false
		}
		end = it.M.ValEnd
		if dst != nil {
			dst = append(dst, it.M)
		}
	}
	end = skipSpace(body, end)
	return dst, end < len(body) && body[end] == '}' && skipSpace(body, end+1) == len(body)
}

// Iter walks the top-level members of a validated object without
// allocating: for it.Next() { use it.M }.
type Iter struct {
	M    Member
	body []byte
	i    int
	done bool
}

// Members starts an iteration over a body that Validate accepted.
func Members(body []byte) Iter {
	return Iter{body: body, i: skipSpace(body, 0) + 1} // past '{'
}

// Next advances to the next member; false at the end.
func (it *Iter) Next() bool {
	if it.done {
		return false
	}
	b := it.body
	if it.M.ValEnd > 0 {
		i := skipSpace(b, it.M.ValEnd)
		if i >= len(b) || b[i] != ',' {
			it.done = true
			return false
		}
		it.i = i + 1
	}
	i := skipSpace(b, it.i)
	if i >= len(b) || b[i] != '"' {
		it.done = true // '}' of an empty object, or end
		return false
	}
	m := &it.M
	m.KeyStart = i
	end, escaped := skipString(b, i)
	if end < i+2 || b[end-1] != '"' {
		it.done = true // a key cut off before its closing quote
		return false
	}
	m.Key, m.Escaped = b[i+1:end-1], escaped
	i = skipSpace(b, end) + 1 // past ':'
	m.ValStart = skipSpace(b, i)
	m.ValEnd = skipValue(b, m.ValStart)
	return true
}

// KeyIs reports whether the decoded key equals s, without allocating for
// keys that hold no escape.
func (m *Member) KeyIs(s string) bool {
	if !m.Escaped {
		return string(m.Key) == s
	}
	return m.KeyString() == s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the offset past the closing quote of the string at i,
// and whether it holds an escape.
func skipString(b []byte, i int) (int, bool) {
	end := stringEnd(b, i)
	return end, bytes.IndexByte(b[i+1:end], '\\') >= 0
}

// skipValue returns the offset past the (valid) value starting at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		// A value's escapes do not matter here: only the end is wanted.
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\n', '\r', '\t':
				return i
			}
			i++
		}
		return i
	}
}
