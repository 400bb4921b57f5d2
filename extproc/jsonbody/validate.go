package jsonbody

import (
	"bytes"

	"github.com/cpen/router/extproc/jsonbody/internal/textscan"
)

// Validate checks that body is one JSON object (surrounding white space
// allowed) whose arrays and objects nest at most maxDepth deep, the object
// itself being depth 1. A limit below 1 means DefaultMaxDepth, and none is
// taken above MaxDepthCeiling. It accepts exactly what encoding/json.Valid
// accepts (bytes that are not UTF-8 included, inside strings), and it
// does not allocate.
//
// One flat pass checks the grammar and counts the depth together; strings,
// the bulk of a chat body, are scanned many bytes at a time. Errors are
// ErrTooDeep, then ErrMalformed, then ErrNotObject, in that precedence.
func Validate(body []byte, maxDepth int) error {
	_, err := validateInto(body, maxDepth, nil)
	return err
}

// ValidateMembers is Validate that also records the object's top-level
// members, appended to dst, in the same pass: a caller that reads the
// members walks the body once instead of twice.
func ValidateMembers(body []byte, maxDepth int, dst []Member) ([]Member, error) {
	rec := memberRecorder{members: dst[:0]}
	return validateInto(body, maxDepth, &rec)
}

// memberRecorder collects top-level members as validate passes them.
type memberRecorder struct {
	members []Member
}

func validateInto(body []byte, maxDepth int, rec *memberRecorder) ([]Member, error) {
	limit := effectiveDepth(maxDepth)
	var members []Member
	if rec != nil {
		members = rec.members
	}
	switch err := validate(body, limit, rec); err {
	case nil:
	case ErrMalformed:
		// The pass stopped at the first fault, but depth is judged on the
		// brackets of the whole body: a level opened past the limit after
		// the fault still makes it ErrTooDeep. Bad bodies are rare, so the
		// second walk costs the hot path nothing.
		if checkDepth(body, limit) == ErrTooDeep {
			return members, ErrTooDeep
		}
		return members, ErrMalformed
	default:
		return members, err
	}
	if body[skipSpace(body, 0)] != '{' {
		return members, ErrNotObject
	}
	if rec != nil {
		members = rec.members
	}
	return members, nil
}

// key records the member whose key opens at i and whose value starts at
// val, when recording and at the top level. The key, valid already, is
// short: finding its end again costs little.
func (r *memberRecorder) key(b []byte, depth, i, val int) {
	if r == nil || depth != 1 {
		return
	}
	key := b[i+1 : stringEnd(b, i)-1]
	r.members = append(r.members, Member{Key: key, Escaped: bytes.IndexByte(key, '\\') >= 0, KeyStart: i, ValStart: val})
}

// valueEnd records where the current top-level member's value ends.
func (r *memberRecorder) valueEnd(depth, i int) {
	if r == nil || depth != 1 || len(r.members) == 0 {
		return
	}
	r.members[len(r.members)-1].ValEnd = i
}

// validate reports whether b is one JSON value, returning ErrTooDeep as
// soon as arrays and objects open more than limit (at most
// MaxDepthCeiling) levels, else ErrMalformed at the first fault.
//
// A grammatical prefix has no bracket outside strings that is not
// structural, so up to the point where it stops, the depth counted here is
// the one checkDepth counts: ErrTooDeep from here is ErrTooDeep there.
func validate(b []byte, limit int, rec *memberRecorder) error {
	// One bit per open level, set for an object and clear for an array:
	// what the closing bracket must be, and whether a member needs a key.
	var objects [MaxDepthCeiling/64 + 1]uint64
	depth := 0
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return ErrMalformed
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == limit {
				return ErrTooDeep
			}
			w, bit := depth>>6, uint64(1)<<(depth&63)
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
				depth--
				i++
				break
			}
			if c == '[' {
				objects[w] &^= bit
				continue
			}
			objects[w] |= bit
			k := i
			if i = memberValue(b, i); i < 0 {
				return ErrMalformed
			}
			rec.key(b, depth, k, i)
			continue
		case '"':
			i = stringEndValid(b, i)
		case 't':
			i = literal(b, i, "true")
		case 'f':
			i = literal(b, i, "false")
		case 'n':
			i = literal(b, i, "null")
		default:
			i = numberEnd(b, i)
		}
		if i < 0 {
			return ErrMalformed
		}

		// A value ended at i: close what it completes, then find the
		// start of the next one.
		for {
			rec.valueEnd(depth, i)
			i = skipSpace(b, i)
			if depth == 0 {
				if i != len(b) {
					return ErrMalformed
				}
				return nil
			}
			if i >= len(b) {
				return ErrMalformed
			}
			top := depth - 1
			inObject := objects[top>>6]>>(top&63)&1 != 0
			if c := b[i]; c == ',' {
				i = skipSpace(b, i+1)
				if inObject {
					k := i
					if i = memberValue(b, i); i < 0 {
						return ErrMalformed
					}
					rec.key(b, depth, k, i)
				}
				break
			} else if inObject && c == '}' || !inObject && c == ']' {
				depth--
				i++
				continue
			}
			return ErrMalformed
		}
	}
}

// memberValue reads a member's key and colon at i and returns the offset
// of its value, or -1 when they are malformed.
func memberValue(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = stringEndValid(b, i); i < 0 {
		return -1
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// literal returns the offset past word at b[i], or -1 when b does not
// hold it there.
func literal(b []byte, i int, word string) int {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// stringEndValid returns the offset past the closing quote of the string
// that opens at b[i], or -1 when the string is malformed: unclosed, with
// a raw control byte, or with an escape other than \" \\ \/ \b \f \n \r
// \t or \u and four hex digits. Other bytes pass as they are, valid UTF-8
// or not, as encoding/json lets them.
func stringEndValid(b []byte, i int) int {
	for i++; ; {
		// Plain text runs between escapes; the scan steps over one in
		// blocks of bytes. i is at most len(b) here: the opening quote
		// and each whole escape end inside b.
		i += textscan.Stop(b[i:])
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 < len(b) && isShortEscape(b[i+1]) {
				i += 2
			} else if i = unicodeEscapeEnd(b, i); i < 0 {
				return -1
			}
		default:
			return -1 // a control byte
		}
	}
}

// The escapes made of one byte after the backslash, as bits of two words
// indexed by the byte's value: '"' and '/' in the low word, '\\' 'b' 'f'
// 'n' 'r' 't' in the high one.
const (
	shortEscapesLow  = 1<<'"' | 1<<'/'
	shortEscapesHigh = 1<<('\\'-64) | 1<<('b'-64) | 1<<('f'-64) | 1<<('n'-64) | 1<<('r'-64) | 1<<('t'-64)
)

// isShortEscape reports whether c after a backslash makes a whole escape.
func isShortEscape(c byte) bool {
	set := uint64(shortEscapesLow)
	if c >= 64 {
		set = shortEscapesHigh
	}
	return c < 128 && set>>(c&63)&1 != 0
}

// unicodeEscapeEnd returns the offset past the \uXXXX escape whose
// backslash is at b[i], or -1 when b holds none there.
func unicodeEscapeEnd(b []byte, i int) int {
	if len(b)-i < 6 || b[i+1] != 'u' {
		return -1
	}
	for _, h := range b[i+2 : i+6] {
		if !isHex(h) {
			return -1
		}
	}
	return i + 6
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

// numberEnd returns the offset past the number at b[i], or -1 when none
// starts there: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? with no
// limit on its length or exponent, as encoding/json only checks the
// grammar. What follows it is the caller's to check, so "01" ends after
// the "0" and fails there.
func numberEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digitsEnd(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
