package chat

import (
	"bytes"

	"github.com/cpen/router/extproc/jsonbody"
)

// maxPendingEvent bounds the bytes held while an event is incomplete; a
// provider that never ends an event cannot grow the sidecar without limit.
const maxPendingEvent = 1 << 20

// sseState follows a response event stream across body chunks: chunks
// split events, lines and CRLF pairs anywhere, so bytes are held until an
// event is complete.
type sseState struct {
	pending    []byte // the start of an incomplete event
	scanned    int    // where pending's unfinished line starts; the lines before it were read
	data       []byte // the joined data of an event with several data lines
	patched    []byte // that data rewritten
	routeSent  bool   // the first data chunk got cpen_route
	statusSent bool   // a chunk with usage got cpen_status
	done       bool   // [DONE] was seen
}

// streamChunk returns the bytes to forward for one chunk of an event
// stream: complete events rewritten (model → alias, cpen_route on the first
// data chunk, cpen_status on the chunk that carries usage), incomplete ones
// held back. At the end everything held is flushed, and a final chunk with
// cpen_status is added before [DONE] if no chunk carried usage.
func (c *chat) streamChunk(dst, chunk []byte, eos bool) []byte {
	s := &c.sse
	data, from := chunk, 0
	held := len(s.pending) > 0
	if held {
		s.pending = append(s.pending, chunk...)
		data, from = s.pending, s.scanned
	}
	start := 0 // where the event being read starts
	lines := newSSELines(data, from, eos)
	for {
		ln, _, ok := lines.next()
		if !ok {
			break
		}
		if len(ln) == 0 { // a blank line ends the event
			dst = c.streamEvent(dst, data[start:lines.at])
			start = lines.at
		}
	}
	rest, scanned := data[start:], lines.at-start
	if eos {
		if len(rest) > 0 {
			dst = c.streamEvent(dst, rest)
			rest, scanned = nil, 0
		}
		if !s.statusSent && !s.done {
			dst = c.appendStatusEvent(dst)
		}
	}
	if len(rest) > maxPendingEvent {
		// Forward as is rather than hold forever, and free the buffer.
		dst = append(dst, rest...)
		s.pending, s.scanned = nil, 0
		return dst
	}
	switch {
	case len(rest) == 0:
		s.pending = s.pending[:0]
	case !held:
		// chunk belongs to the request: the incomplete event is copied.
		s.pending = append(s.pending[:0], rest...)
	case start > 0:
		s.pending = s.pending[:copy(s.pending, rest)] // moved down in place
	}
	s.scanned = scanned
	return dst
}

// streamEvent rewrites the data of one complete event (at the end of the
// stream, of whatever bytes are left). An event usually has a single data
// line: that line alone is replaced, the other bytes pass as they came,
// line ends included.
func (c *chat) streamEvent(dst, ev []byte) []byte {
	s := &c.sse
	var (
		payload  []byte // the first data line's value
		at, end  int    // that line's bounds in ev, without its line end
		dataRows int
	)
	for lines := newSSELines(ev, 0, true); ; {
		lineAt := lines.at
		ln, _, ok := lines.next()
		if !ok {
			break
		}
		if v, isData := sseData(ln); isData {
			if dataRows == 0 {
				payload, at, end = v, lineAt, lineAt+len(ln)
			}
			dataRows++
		}
	}
	switch {
	case dataRows == 0:
		return append(dst, ev...)
	case dataRows > 1:
		return c.streamDataLines(dst, ev)
	case string(payload) == "[DONE]":
		if !s.statusSent && !s.done {
			dst = c.appendStatusEvent(dst)
		}
		s.done = true
		return append(dst, ev...)
	case !c.sseObject(payload):
		return append(dst, ev...)
	}
	dst = append(dst, ev[:at]...)
	dst = append(dst, "data: "...)
	dst = c.streamObject(dst, payload)
	return append(dst, ev[end:]...)
}

// streamDataLines rewrites an event with several data lines. A client
// reads its data as those lines' values joined by LF. When that is one JSON
// object it is rewritten as a whole and cut again at its LFs into data
// lines, in the places and with the line ends of the original ones (one
// fewer if the model's old value spanned lines). Otherwise no client can
// read the event as a chunk; each line that is an object by itself still
// has its model replaced, so the provider's model never shows.
func (c *chat) streamDataLines(dst, ev []byte) []byte {
	s := &c.sse
	s.data = s.data[:0]
	dataRows := 0
	for lines := newSSELines(ev, 0, true); ; {
		ln, _, ok := lines.next()
		if !ok {
			break
		}
		if v, isData := sseData(ln); isData {
			if dataRows > 0 {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, v...)
			dataRows++
		}
	}
	whole := c.sseObject(s.data)
	if whole {
		s.patched = c.streamObject(s.patched[:0], s.data)
	}
	segs, more := s.patched, whole // the rewritten data not yet written, LF-separated
	for lines := newSSELines(ev, 0, true); ; {
		ln, le, ok := lines.next()
		if !ok {
			break
		}
		v, isData := sseData(ln)
		switch {
		case !isData:
			dst = append(append(dst, ln...), le...)
		case whole:
			dataRows--
			for more {
				seg, tail, cut := bytes.Cut(segs, []byte{'\n'})
				dst = append(dst, "data: "...)
				dst = append(append(dst, seg...), le...)
				segs, more = tail, cut
				if dataRows > 0 {
					break // the last data line takes whatever is left
				}
			}
		case c.sseObject(v):
			dst = append(dst, "data: "...)
			dst = c.patchObject(dst, v, false, false, "completed")
			dst = append(dst, le...)
		default:
			dst = append(append(dst, ln...), le...)
		}
	}
	return dst
}

// streamObject appends one chunk object rewritten: model → alias,
// cpen_route if it is the first, cpen_status if it is the first to carry
// usage.
func (c *chat) streamObject(dst, obj []byte) []byte {
	s := &c.sse
	withUsage := hasUsage(obj, c.objectMembers(obj))
	dst = c.patchObject(dst, obj, !s.routeSent, withUsage && !s.statusSent, "completed")
	s.routeSent = true
	s.statusSent = s.statusSent || withUsage
	return dst
}

// sseObject reports whether a data value is one JSON object the rewriter
// can edit. The closing brace is checked first: it is cheap, and a value
// cut short (a provider's stream broken off mid-chunk) then never reaches
// the member walk, which expects a key's closing quote to be there.
func (c *chat) sseObject(v []byte) bool {
	t := bytes.TrimRight(v, " \t\r\n")
	return len(t) > 0 && t[len(t)-1] == '}' && c.shape(v)
}

// sseData returns the value of a data field: what follows "data:", less
// one leading space. A line that is just "data" is a data field with an
// empty value; any other line is not one.
func sseData(ln []byte) ([]byte, bool) {
	v, ok := bytes.CutPrefix(ln, []byte("data"))
	switch {
	case !ok:
		return nil, false
	case len(v) == 0:
		return v, true
	case v[0] != ':':
		return nil, false // another field whose name starts with "data"
	}
	v = v[1:]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return v, true
}

// sseLines splits event-stream bytes into lines. A line ends at CRLF, LF
// or a lone CR. A CR that is the last byte buffered may be the first half
// of a CRLF, so it ends a line only when no byte will follow. The next CR
// and the next LF are remembered: a stream that never uses one of them is
// searched for it once, not once a line.
type sseLines struct {
	b      []byte
	at     int  // where the next line starts
	cr, lf int  // offsets of the next '\r' and '\n' at or after at; len(b) if none; -1 until searched
	final  bool // no byte will follow b
}

func newSSELines(b []byte, at int, final bool) sseLines {
	return sseLines{b: b, at: at, cr: -1, lf: -1, final: final}
}

// next returns the next line and its line end (CR, LF or CRLF), or false
// if no complete line is left. When final, a last line without a line end
// is returned with an empty one.
func (l *sseLines) next() (line, end []byte, ok bool) {
	if l.at >= len(l.b) {
		return nil, nil, false
	}
	if l.cr < l.at {
		l.cr = indexByteFrom(l.b, l.at, '\r')
	}
	if l.lf < l.at {
		l.lf = indexByteFrom(l.b, l.at, '\n')
	}
	e := min(l.cr, l.lf)
	n := e + 1 // past the line end
	switch {
	case e == len(l.b):
		if !l.final {
			return nil, nil, false
		}
		n = e
	case l.b[e] == '\n':
	case n < len(l.b):
		if l.b[n] == '\n' {
			n++
		}
	case !l.final:
		return nil, nil, false // a CR last: wait for the next byte
	}
	line, end = l.b[l.at:e], l.b[e:n]
	l.at = n
	return line, end, true
}

// indexByteFrom returns the offset of the first c at or after from, or
// len(b) if there is none.
func indexByteFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}

// hasUsage reports whether a chunk carries a non-null usage object: the
// last data chunk of an OpenAI stream with include_usage.
func hasUsage(obj []byte, members []jsonbody.Member) bool {
	for i := range members {
		if members[i].KeyIs("usage") {
			return string(members[i].Value(obj)) != "null"
		}
	}
	return false
}

// appendStatusEvent adds a final data chunk with cpen_status for streams
// whose provider sent no usage chunk.
func (c *chat) appendStatusEvent(dst []byte) []byte {
	s := &c.sse
	dst = append(dst, `data: {"object":"chat.completion.chunk","model":`...)
	dst = append(dst, c.aliasJSON...)
	dst = append(dst, `,"choices":[],"cpen_status":"completed","cpen_cost_usd":`...)
	dst = c.appendCost(dst)
	if !s.routeSent {
		dst = append(dst, `,"cpen_route":`...)
		dst = append(dst, c.routeJSON...)
		s.routeSent = true
	}
	s.statusSent = true
	return append(dst, "}\n\n"...)
}
