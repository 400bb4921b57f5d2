package jsonbody

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
)

// ErrTooDeep is returned for a body whose arrays and objects nest deeper
// than the limit given to Validate. It comes before the other errors: a
// body that is both too deep and malformed gets ErrTooDeep, wherever the
// fault lies, unless a bracket closes a level never opened before the
// body first nests too deep.
var ErrTooDeep = errors.New("body nests arrays and objects too deeply")

const (
	// DefaultMaxDepth is the nesting limit used when Validate is given
	// none (a limit below 1).
	DefaultMaxDepth = 64

	// MaxDepthCeiling caps any limit given to Validate. The validator
	// keeps one bit per open level in a fixed array on its stack, sized
	// by this.
	MaxDepthCeiling = 1000
)

// effectiveDepth turns a configured limit into the one Validate enforces.
func effectiveDepth(maxDepth int) int {
	switch {
	case maxDepth < 1:
		return DefaultMaxDepth
	case maxDepth > MaxDepthCeiling:
		return MaxDepthCeiling
	}
	return maxDepth
}

// checkDepth walks body once, without recursion, and counts the brackets
// that open and close arrays and objects; brackets inside strings are
// skipped. It returns ErrTooDeep as soon as the count passes maxDepth,
// and ErrMalformed when a closing bracket has nothing to close.
//
// It defines the depth rule for bodies that are not valid JSON, whose
// brackets after the first fault the validator never reaches. Strings
// are tokenised the way the validator does (a string ends at the first
// quote not escaped by an odd run of backslashes), so on any prefix the
// validator accepts, the two counts agree.
func checkDepth(b []byte, maxDepth int) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		// c|0x20 folds '[' onto '{' and ']' onto '}', and no other byte.
		switch c := b[i]; {
		case c == '"':
			i = stringEnd(b, i) - 1 // the loop steps past the closing quote
		case c|0x20 == '{':
			depth++
			if depth > maxDepth {
				return ErrTooDeep
			}
		case c|0x20 == '}':
			depth--
			if depth < 0 {
				return ErrMalformed
			}
		}
	}
	return nil
}

// stringEnd returns the offset past the closing quote of the string that
// opens at i, or len(b) when it is never closed.
func stringEnd(b []byte, i int) int {
	// Keys and most scalar strings are short, and for them IndexByte's
	// setup costs more than the search: look for the quote in the next
	// sixteen bytes a word at a time first.
	if i+17 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i+1:])
		if n, ok := plainQuote(w); ok {
			return i + 2 + n
		}
		if zeroBytes(w^backslashes) == 0 {
			if n, ok := plainQuote(binary.LittleEndian.Uint64(b[i+9:])); ok {
				return i + 10 + n
			}
		}
	}
	open := i
	for i++; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		q := i + j
		k := q - 1 // back over the backslashes right before the quote
		for k > open && b[k] == '\\' {
			k--
		}
		if (q-k)%2 == 1 { // an even run: the quote is not escaped
			return q + 1
		}
		i = q + 1
	}
	return len(b)
}

const (
	quotes      = 0x2222222222222222 // '"' in every byte
	backslashes = 0x5c5c5c5c5c5c5c5c // '\\' in every byte
)

// zeroBytes sets the high bit of the zero bytes of u. Bits above the
// lowest may be false positives (a borrow runs upward), so callers only
// trust the lowest set bit, or a zero result.
func zeroBytes(u uint64) uint64 {
	return (u - 0x0101010101010101) &^ u & 0x8080808080808080
}

// plainQuote reports the index of the first '"' among the eight bytes of
// w (little-endian), when one comes before any backslash.
func plainQuote(w uint64) (int, bool) {
	q := zeroBytes(w ^ quotes)
	if q == 0 {
		return 0, false
	}
	if e := zeroBytes(w ^ backslashes); e != 0 && e&-e < q&-q {
		return 0, false
	}
	return bits.TrailingZeros64(q) / 8, true
}

// StringEnd returns the offset past the closing quote of the string that
// opens at b[i], or len(b) when it is never closed.
func StringEnd(b []byte, i int) int { return stringEnd(b, i) }
