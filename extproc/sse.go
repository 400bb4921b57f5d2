package extproc

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
	routeSent  bool   // the first data chunk got cpen_route
	statusSent bool   // a chunk with usage got cpen_status
	done       bool   // [DONE] was seen
}

// streamChunk returns the bytes to forward for one chunk of an event
// stream: complete events rewritten (model → alias, cpen_route on the first
// data chunk, cpen_status on the chunk that carries usage), incomplete ones
// held back. At the end everything held is flushed, and a final chunk with
// cpen_status is added before [DONE] if no chunk carried usage.
func (x *exchange) streamChunk(dst, chunk []byte, eos bool) []byte {
	s := &x.chat.sse
	data := chunk
	if len(s.pending) > 0 {
		s.pending = append(s.pending, chunk...)
		data = s.pending
	}
	for {
		end := eventEnd(data)
		if end < 0 {
			break
		}
		dst = x.streamEvent(dst, data[:end])
		data = data[end:]
	}
	if eos {
		if len(data) > 0 {
			dst = x.streamEvent(dst, data)
			data = nil
		}
		if !s.statusSent && !s.done {
			dst = x.appendStatusEvent(dst)
		}
	}
	// Keep the incomplete tail (copied: chunk belongs to the request).
	tail := append(s.pending[:0:0], data...)
	if len(tail) > maxPendingEvent {
		dst, tail = append(dst, tail...), nil // forward as is rather than hold forever
	}
	s.pending = tail
	return dst
}

// eventEnd returns the offset just past the first event's blank line
// ("\n\n" or "\r\n\r\n"), or -1 if no event is complete yet.
func eventEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		k := i + j + 1 // past this '\n'
		switch {
		case k < len(b) && b[k] == '\n':
			return k + 1
		case k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n':
			return k + 2
		}
		i = k
	}
	return -1
}

// streamEvent rewrites the data lines of one complete event.
func (x *exchange) streamEvent(dst, ev []byte) []byte {
	s := &x.chat.sse
	for len(ev) > 0 {
		n := bytes.IndexByte(ev, '\n') + 1
		if n == 0 {
			n = len(ev)
		}
		ln := ev[:n]
		ev = ev[n:]
		p, ok := ssePayload(ln)
		if !ok {
			dst = append(dst, ln...)
			continue
		}
		if string(p) == "[DONE]" {
			if !s.statusSent && !s.done {
				dst = x.appendStatusEvent(dst)
			}
			s.done = true
			dst = append(dst, ln...)
			continue
		}
		if !jsonbody.Shape(p) {
			dst = append(dst, ln...)
			continue
		}
		withUsage := hasUsage(p)
		dst = append(dst, "data: "...)
		dst = x.patchObject(dst, p, !s.routeSent, withUsage && !s.statusSent, "completed")
		dst = append(dst, ln[len(ln)-len(lineEnd(ln)):]...)
		s.routeSent = true
		s.statusSent = s.statusSent || withUsage
	}
	return dst
}

// hasUsage reports whether a chunk carries a non-null usage object: the
// last data chunk of an OpenAI stream with include_usage.
func hasUsage(obj []byte) bool {
	for it := jsonbody.Members(obj); it.Next(); {
		if it.M.KeyIs("usage") {
			return string(it.M.Value(obj)) != "null"
		}
	}
	return false
}

// appendStatusEvent adds a final data chunk with cpen_status for streams
// whose provider sent no usage chunk.
func (x *exchange) appendStatusEvent(dst []byte) []byte {
	s := &x.chat.sse
	dst = append(dst, `data: {"object":"chat.completion.chunk","model":`...)
	dst = append(dst, x.chat.aliasJSON...)
	dst = append(dst, `,"choices":[],"cpen_status":"completed"`...)
	if !s.routeSent {
		dst = append(dst, `,"cpen_route":`...)
		dst = append(dst, x.chat.routeJSON...)
		s.routeSent = true
	}
	s.statusSent = true
	return append(dst, "}\n\n"...)
}
