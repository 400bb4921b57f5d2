package jsonbody

import "bytes"

// StreamEditor says what a Stream changes in the object it follows.
type StreamEditor interface {
	// Replacement returns the bytes that replace the value of a top-level
	// member with this key (as written, escapes kept), if any.
	Replacement(key []byte, escaped bool) ([]byte, bool)
	// Wants reports whether the value of a top-level member with this key
	// is to be handed to Captured once complete.
	Wants(key []byte, escaped bool) bool
	// Captured receives a wanted value; it is valid only during the call.
	Captured(key, value []byte)
	// Tail appends what goes before the object's closing brace: members,
	// led by a comma when the object had any (hasMembers).
	Tail(dst []byte, hasMembers bool) []byte
}

// The states of a Stream: where the next byte stands in the object.
const (
	stBefore     uint8 = iota // before the opening brace
	stMember                  // after '{' or ',': a key or '}' next
	stKey                     // inside a key
	stColon                   // after a key: ':' next
	stValueStart              // after ':': a value next
	stString                  // inside a string value
	stNested                  // inside an object or array value
	stScalar                  // inside a number or literal
	stAfterValue              // after a value: ',' or '}' next
	stDone                    // after the closing brace: only spaces
	stBroken                  // not an object we can follow: pass as is
)

// Bounds on what a Stream keeps across chunks: keys longer than
// maxStreamKey are nobody's to replace or capture, and a wanted value
// longer than maxStreamCapture is not captured.
const (
	maxStreamKey     = 64
	maxStreamCapture = 4 << 10
)

// Stream follows one JSON object that arrives in chunks and edits its top
// level as it passes: a member's value replaced, values captured, members
// added before the closing brace. It keeps only the key in hand and a
// captured value, never the body (but for the held tail below, at most
// tailWindow bytes), so an answer of any size costs what its edited
// chunks do. Like ShapeMembers it checks the structure it walks (strings,
// nesting, separators), not every scalar: bodies it follows come from
// providers. At the first byte that breaks the structure it stops editing
// and passes the rest as it came.
//
// When the object's length is known, a Stream reads only its head and its
// tail: it follows the object until a replacement is done, lets the
// middle pass unread, and holds back the last tailWindow bytes to walk
// them backward from the closing brace (tail.go).
type Stream struct {
	ed       StreamEditor
	state    uint8
	inStr    bool // inside a string within a nested value
	esc      bool // the previous byte was a backslash, inside a string
	depth    int  // nesting within a nested value
	members  bool // the object has a member
	skipping bool // the value in hand is being replaced: its bytes go
	wanted   bool // the value in hand is being captured
	keyLong  bool // the key in hand is over maxStreamKey
	keyEsc   bool // the key in hand holds an escape
	key      []byte
	capture  []byte
	tail
}

// NewStream starts following an object of length bytes (0 or less:
// unknown), edited by ed.
func NewStream(ed StreamEditor, length int) Stream {
	s := Stream{key: make([]byte, 0, maxStreamKey)}
	s.Reset(ed, length)
	return s
}

// Reset starts over on a new object of length bytes (0 or less: unknown),
// keeping the buffers.
func (s *Stream) Reset(ed StreamEditor, length int) {
	*s = Stream{ed: ed, key: s.key[:0], capture: s.capture[:0], tail: s.tail.reset(length)}
}

// Done reports whether the object's closing brace has passed, so its tail
// went out.
func (s *Stream) Done() bool { return s.state == stDone }

// Feed scans one chunk; eos says it is the body's last. When the chunk
// changes, it appends the chunk as it must go on to dst and returns it
// with changed true (dst may then stay empty: the chunk is held back);
// otherwise the chunk goes on as it is and dst is returned untouched.
func (s *Stream) Feed(dst, chunk []byte, eos bool) (out []byte, changed bool) {
	if s.phase != phFollow {
		return s.feedTail(dst, chunk, eos)
	}
	out, changed = s.follow(dst, chunk)
	s.pos += len(chunk)
	if s.length > 0 {
		if eos {
			s.handPending()
		} else if s.headDone() {
			s.leaveHead()
		}
	}
	return out, changed
}

// follow scans one chunk byte by byte (strings by quote), as Feed
// describes.
func (s *Stream) follow(dst, chunk []byte) (out []byte, changed bool) {
	from := 0 // chunk[from:i] is owed to the output
	emit := func(i int, extra []byte) {
		if !changed {
			changed = true
		}
		dst = append(dst, chunk[from:i]...)
		dst = append(dst, extra...)
	}
	for i := 0; i < len(chunk); i++ {
		if s.inString() && !s.wanted && !s.skipping {
			// The bulk of an answer is string text: jump from quote to
			// quote. i then holds the closing quote, for the switch to
			// take as usual, or the chunk is used up inside the string.
			if i = s.skipText(chunk, i); i == len(chunk) {
				break
			}
		}
		c := chunk[i]
		switch s.state {
		case stBefore:
			switch {
			case isSpace(c):
			case c == '{':
				s.state = stMember
			default:
				s.state = stBroken
			}
		case stMember:
			switch {
			case isSpace(c):
			case c == '"':
				s.state, s.key, s.keyLong, s.keyEsc, s.esc = stKey, s.key[:0], false, false, false
			case c == '}' && !s.members:
				emit(i, nil)
				s.handPending()
				dst = s.ed.Tail(dst, false)
				from = i
				s.state = stDone
			default:
				s.state = stBroken
			}
		case stKey:
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc, s.keyEsc = true, true
			case c == '"':
				s.state = stColon
				continue
			}
			if len(s.key) < maxStreamKey {
				s.key = append(s.key, c)
			} else {
				s.keyLong = true
			}
		case stColon:
			switch {
			case isSpace(c):
			case c == ':':
				s.state = stValueStart
			default:
				s.state = stBroken
			}
		case stValueStart:
			if isSpace(c) {
				continue
			}
			s.members = true
			if !s.keyLong {
				if v, ok := s.ed.Replacement(s.key, s.keyEsc); ok {
					emit(i, v)
					s.skipping = true
				} else if s.ed.Wants(s.key, s.keyEsc) {
					// A later wanted value supersedes the one pending,
					// even if it turns out too long to keep.
					s.wanted, s.capture, s.pending = true, s.capture[:0], false
				}
			}
			s.startValue(c)
			s.keep(c)
		case stString:
			s.keep(c)
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				i = s.endValue(i+1, &from) - 1
			}
		case stNested:
			s.keep(c)
			switch {
			case s.esc:
				s.esc = false
			case s.inStr:
				if c == '\\' {
					s.esc = true
				} else if c == '"' {
					s.inStr = false
				}
			case c == '"':
				s.inStr = true
			case c == '{' || c == '[':
				s.depth++
			case c == '}' || c == ']':
				s.depth--
				if s.depth == 0 {
					i = s.endValue(i+1, &from) - 1
				}
			}
		case stScalar:
			if isSpace(c) || c == ',' || c == '}' || c == ']' {
				// The delimiter is the next state's: read it again.
				i = s.endValue(i, &from) - 1
				continue
			}
			s.keep(c)
		case stAfterValue:
			switch {
			case isSpace(c):
			case c == ',':
				s.state = stMember
			case c == '}':
				emit(i, nil)
				s.handPending()
				dst = s.ed.Tail(dst, true)
				from = i
				s.state = stDone
			default:
				s.state = stBroken
			}
		case stDone:
			if !isSpace(c) {
				s.state = stBroken
			}
		case stBroken:
			i = len(chunk)
		}
	}
	// Bytes of a replaced value went (from moved past them, or the chunk
	// ends inside one) although nothing was emitted: that changes it too.
	if !changed && from == 0 && !(s.skipping && len(chunk) > 0) {
		return dst, false
	}
	if !s.skipping {
		dst = append(dst, chunk[from:]...)
	}
	return dst, true
}

// inString reports whether the next byte is string text: inside a string
// value, or inside a string within a nested value.
func (s *Stream) inString() bool {
	return s.state == stString || s.state == stNested && s.inStr
}

// skipText skips the string text of chunk from i, which s.esc says
// whether an odd run of backslashes precedes. It returns the offset of the
// string's closing quote, with s.esc clear, or len(chunk) with s.esc set
// for the backslashes the chunk ends with. A quote is the string's end
// when an even run of backslashes precedes it; no other escape matters
// for finding it.
func (s *Stream) skipText(chunk []byte, i int) int {
	text, esc := chunk[i:], s.esc
	for {
		k := bytes.IndexByte(text, '"')
		if k < 0 {
			s.esc = oddBackslashes(text, esc)
			return len(chunk)
		}
		// The usual case first: a quote escaped by one backslash after a
		// plain byte. Text goes on after it, and no backslash run before
		// the next quote can reach past it.
		if k >= 2 && text[k-1] == '\\' && text[k-2] != '\\' {
			text, esc = text[k+1:], false
			continue
		}
		if k > 0 && text[k-1] != '\\' || !oddBackslashes(text[:k], esc) {
			s.esc = false
			return len(chunk) - len(text) + k
		}
		text, esc = text[k+1:], false
	}
}

// oddBackslashes reports whether text ends with an odd run of
// backslashes, counting an odd run before it (carry) when the whole of
// text is backslashes.
func oddBackslashes(text []byte, carry bool) bool {
	n := 0
	for n < len(text) && text[len(text)-1-n] == '\\' {
		n++
	}
	odd := n%2 == 1
	if n == len(text) && carry {
		odd = !odd
	}
	return odd
}

// startValue enters the state of a value that starts with c.
func (s *Stream) startValue(c byte) {
	switch c {
	case '"':
		s.state, s.esc = stString, false
	case '{', '[':
		s.state, s.depth, s.inStr, s.esc = stNested, 1, false, false
	default:
		s.state = stScalar
	}
}

// keep adds a byte of a wanted value to its capture.
func (s *Stream) keep(c byte) {
	if !s.wanted {
		return
	}
	if len(s.capture) == maxStreamCapture {
		s.wanted = false
		return
	}
	s.capture = append(s.capture, c)
}

// endValue closes the value in hand, which ends just before end: a
// replaced value's bytes stop being dropped there, a wanted one is handed
// over (kept pending instead when the length is known: a later one may
// supersede it unseen). It returns end.
func (s *Stream) endValue(end int, from *int) int {
	if s.skipping {
		s.skipping, s.replaced = false, true
		*from = end
	}
	if s.wanted {
		s.wanted = false
		if s.length > 0 {
			s.pending, s.pendKey = true, append(s.pendKey[:0], s.key...)
		} else {
			s.ed.Captured(s.key, s.capture)
		}
	}
	s.state = stAfterValue
	return end
}

// handPending hands the pending wanted value over: nothing after it in the
// object can supersede it any more.
func (s *Stream) handPending() {
	if s.pending {
		s.pending = false
		s.ed.Captured(s.pendKey, s.capture)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }
