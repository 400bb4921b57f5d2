package jsonbody

import "bytes"

// tailWindow is how much of the end of an object of known length a Stream
// holds back and walks backward. The members an answer closes with
// (usage, service tier, fingerprint, the end of its choices) take a few
// hundred bytes; 16 KiB leaves room for verbose usage objects while
// costing one copy of 16 KiB whatever the answer's size.
const tailWindow = 16 << 10

// maxHeld bounds the held tail of a body that runs past its declared
// length: past it, the held bytes and the rest pass as they came.
const maxHeld = 2 * tailWindow

// The phases of a Stream over an object of known length.
const (
	phFollow uint8 = iota // following every byte, as when the length is unknown
	phSkim                // the middle: bytes pass unread
	phHold                // the tail: bytes held back for the backward walk
	phPassed              // the tail went out: the rest passes as is
)

// tail is what a Stream keeps to edit an object of known length at its
// head and tail only.
type tail struct {
	length   int   // the object's declared length; 0: unknown
	pos      int   // offset in the body of the next byte fed
	phase    uint8 // phFollow until the head is done
	replaced bool  // a replaced value is complete
	skimmed  bool  // bytes between the head and the held tail passed unread
	// clean: the held bytes start between two members, not inside one.
	clean bool
	// pending: capture holds a wanted value, under pendKey, not handed
	// over yet (a later one, in bytes not read, may supersede it).
	pending bool
	pendKey []byte
	held    []byte
	edits   []Edit
}

// reset starts a tail for an object of length bytes, keeping the buffers.
func (t tail) reset(length int) tail {
	held := t.held[:0]
	if cap(held) > maxHeld {
		held = nil
	}
	return tail{length: max(length, 0), pendKey: t.pendKey[:0], held: held, edits: t.edits[:0]}
}

// headDone reports whether the head is read: a replacement is complete
// and no value in hand is, or may be about to be, replaced or captured.
func (s *Stream) headDone() bool {
	if !s.replaced || s.skipping || s.wanted {
		return false
	}
	switch s.state {
	case stMember, stAfterValue, stString, stNested, stScalar:
		return true
	case stColon, stValueStart:
		// The key is complete but its value not yet begun.
		if s.keyLong {
			return true
		}
		_, replaced := s.ed.Replacement(s.key, s.keyEsc)
		return !replaced && !s.ed.Wants(s.key, s.keyEsc)
	}
	// Inside a key (it may be one to edit), or past the object.
	return false
}

// leaveHead stops following: the middle passes unread up to the tail
// window, or the tail is held from here if the head reached into it.
func (s *Stream) leaveHead() {
	s.held = s.held[:0]
	if s.pos < s.length-tailWindow {
		s.phase = phSkim
		return
	}
	s.phase = phHold
	s.clean = s.state == stMember || s.state == stAfterValue
}

// feedTail is Feed past the head.
func (s *Stream) feedTail(dst, chunk []byte, eos bool) ([]byte, bool) {
	switch s.phase {
	case phPassed:
		s.pos += len(chunk)
		if s.state == stDone && skipSpace(chunk, 0) < len(chunk) {
			s.state = stBroken
		}
		return dst, false
	case phSkim:
		k := s.length - tailWindow - s.pos // bytes still to pass unread
		if k >= len(chunk) && !eos {
			s.pos += len(chunk)
			s.skimmed = s.skimmed || len(chunk) > 0
			return dst, false
		}
		k = min(k, len(chunk))
		if eos {
			// A body shorter than its length ends here: its last
			// tailWindow bytes are the tail.
			k = min(k, max(len(chunk)-tailWindow, 0))
		}
		if k > 0 {
			s.skimmed = true
			dst = append(dst, chunk[:k]...)
		}
		s.pos += k
		chunk = chunk[k:]
		s.phase = phHold
	}
	return s.hold(dst, chunk, eos), true
}

// hold adds chunk to the held tail; once the body reaches its length (or
// ends) the tail goes out, edited, appended to dst.
func (s *Stream) hold(dst, chunk []byte, eos bool) []byte {
	s.pos += len(chunk)
	if len(s.held) == 0 && (eos || s.pos == s.length) {
		// The whole tail is in this chunk: walked where it lies.
		s.phase = phPassed
		return s.emitTail(dst, chunk)
	}
	if len(s.held)+len(chunk) > maxHeld {
		// Far past its declared length: not the object we were told of.
		dst = append(dst, s.held...)
		dst = append(dst, chunk...)
		s.held, s.phase, s.state = s.held[:0], phPassed, stBroken
		return dst
	}
	if cap(s.held) == 0 {
		s.held = make([]byte, 0, tailWindow)
	}
	s.held = append(s.held, chunk...)
	// Bytes past the length wait for the end of the body (or the bound).
	if !eos && s.pos != s.length {
		return dst
	}
	s.phase = phPassed
	dst = s.emitTail(dst, s.held)
	s.held = s.held[:0]
	return dst
}

// emitTail appends the held tail h to dst, walked backward from its
// closing brace: replaced values replaced, the last wanted value captured,
// and the editor's tail inserted before the brace. A tail that does not
// end an object goes as it came.
func (s *Stream) emitTail(dst, h []byte) []byte {
	end := len(h) - 1
	for end >= 0 && isSpace(h[end]) {
		end--
	}
	if end < 0 || h[end] != '}' {
		s.state = stBroken
		return append(dst, h...)
	}
	s.walkBack(h, end)
	at := 0
	for k := len(s.edits) - 1; k >= 0; k-- {
		e := &s.edits[k]
		dst = append(dst, h[at:e.Start]...)
		dst = append(dst, e.Text...)
		at = e.End
	}
	dst = append(dst, h[at:end]...)
	// The object has members: the head replaced one.
	dst = s.ed.Tail(dst, true)
	s.state = stDone
	return append(dst, h[end:]...)
}

// Why a backward walk stopped.
const (
	walkOn     uint8 = iota
	walkRanOff       // the next member starts before the held bytes
	walkWanted       // a wanted value, handed over if not too long
	walkBad          // a byte no valid object has there
)

// walkBack walks the top-level members of h backward from its closing
// brace at end, noting edits (last member first) and handing over the last
// wanted value.
func (s *Stream) walkBack(h []byte, end int) {
	s.edits = s.edits[:0]
	stop := s.walkMembers(h, s.spaceBack(h, end-1))
	if stop == walkRanOff && !s.skimmed {
		// Every member after the head was walked, and none wanted: the
		// head's wanted value is the last.
		s.handPending()
	}
}

// walkMembers walks members backward, the last value's last byte at i.
func (s *Stream) walkMembers(h []byte, i int) uint8 {
	for {
		if i < 0 {
			return walkRanOff
		}
		vs, stop := s.valueStart(h, i)
		if stop != walkOn {
			return stop
		}
		j := s.spaceBack(h, vs-1)
		if j < 0 {
			return walkRanOff
		}
		if h[j] != ':' {
			return walkBad
		}
		j = s.spaceBack(h, j-1)
		if j < 0 {
			return walkRanOff
		}
		if h[j] != '"' {
			return walkBad
		}
		ks, stop := s.stringStart(h, j)
		if stop != walkOn {
			return stop
		}
		if key := h[ks+1 : j]; len(key) <= maxStreamKey {
			esc := bytes.IndexByte(key, '\\') >= 0
			if v, ok := s.ed.Replacement(key, esc); ok {
				s.edits = append(s.edits, Edit{Start: vs, End: i + 1, Text: v})
			} else if s.ed.Wants(key, esc) {
				// The last wanted value, as the forward walk would have
				// kept it; one too long is not captured, nor any before.
				if i+1-vs <= maxStreamCapture {
					s.ed.Captured(key, h[vs:i+1])
				}
				return walkWanted
			}
		}
		j = s.spaceBack(h, ks-1)
		if j < 0 {
			return walkRanOff
		}
		// The object's opening brace is in the head, never held: a
		// brace here opens some nested value, so the tail is not what
		// it seemed.
		if h[j] != ',' {
			return walkBad
		}
		i = s.spaceBack(h, j-1)
	}
}

// valueStart returns the offset of the first byte of the value whose last
// byte is at i.
func (s *Stream) valueStart(h []byte, i int) (int, uint8) {
	switch c := h[i]; c {
	case '"':
		return s.stringStart(h, i)
	case '}', ']':
		return s.nestedStart(h, i)
	case ',', ':', '{', '[':
		return 0, walkBad
	}
	j := i
	for j >= 0 && !isSpace(h[j]) && !isDelimiter(h[j]) {
		j--
	}
	if j < 0 {
		return 0, walkRanOff
	}
	return j + 1, walkOn
}

// nestedStart returns the offset of the bracket that opens the object or
// array whose closing bracket is at i.
func (s *Stream) nestedStart(h []byte, i int) (int, uint8) {
	depth := 0
	for j := i; j >= 0; j-- {
		switch h[j] {
		case '"':
			k, stop := s.stringStart(h, j)
			if stop != walkOn {
				return 0, stop
			}
			j = k
		case '}', ']':
			depth++
		case '{', '[':
			if depth--; depth == 0 {
				return j, walkOn
			}
		}
	}
	return 0, walkRanOff
}

// stringStart returns the offset of the opening quote of the string whose
// closing quote is at q: the first quote before it that an even run of
// backslashes precedes (any quote within the string is escaped). A run
// that reaches the start of h may go on before it, unless the held bytes
// start between members.
func (s *Stream) stringStart(h []byte, q int) (int, uint8) {
	j := q
	for {
		k := bytes.LastIndexByte(h[:j], '"')
		if k < 0 {
			return 0, walkRanOff
		}
		n := 0
		for k-1-n >= 0 && h[k-1-n] == '\\' {
			n++
		}
		if k-1-n < 0 && !s.clean {
			return 0, walkRanOff
		}
		if n%2 == 0 {
			return k, walkOn
		}
		j = k - n
	}
}

// spaceBack returns the offset of the last byte at or before i that is
// not a space; -1 if none.
func (s *Stream) spaceBack(h []byte, i int) int {
	for i >= 0 && isSpace(h[i]) {
		i--
	}
	return i
}

// isDelimiter reports whether c ends a scalar (other than a space).
func isDelimiter(c byte) bool {
	switch c {
	case ':', ',', '{', '}', '[', ']', '"':
		return true
	}
	return false
}
