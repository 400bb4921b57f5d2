package chat

import (
	"github.com/cpen/router/extproc/credit"
	"github.com/cpen/router/extproc/jsonbody"
)

// streamObjectAbove is the answer size from which a plain JSON answer is
// switched to STREAMED and edited chunk by chunk: buffered, Envoy would
// send it whole in one message and take the whole edited copy back, three
// copies of the body on the sidecar's side. Smaller answers cost less in
// one message (streamed, they take at least one message more).
const streamObjectAbove = 64 << 10

// streamsObject reports whether a non-stream JSON answer with this
// content-length goes STREAMED, and the length it declares, which lets
// the edit read only the answer's head and tail. An answer of unknown
// length stays buffered: most are small, and Envoy's buffer limit bounds
// the rest.
func streamsObject(contentLength []byte) (length int, ok bool) {
	n := atoi(contentLength)
	return n, n > streamObjectAbove
}

// objectEdit is the chat processor as the editor of a streamed JSON
// answer: the alias for every top-level model, the usage noted for the
// receipt, and the cpen fields before the closing brace.
type objectEdit chat

var _ jsonbody.StreamEditor = (*objectEdit)(nil)

// Replacement gives the alias as the value of "model" (any case).
func (e *objectEdit) Replacement(key []byte, escaped bool) ([]byte, bool) {
	if isModelKey(&jsonbody.Member{Key: key, Escaped: escaped}) {
		return e.aliasJSON, true
	}
	return nil, false
}

// Wants the usage, which prices the receipt.
func (e *objectEdit) Wants(key []byte, escaped bool) bool {
	m := jsonbody.Member{Key: key, Escaped: escaped}
	return m.KeyIs("usage")
}

// Captured notes the usage.
func (e *objectEdit) Captured(_, value []byte) {
	if u, ok := credit.UsageValue(value); ok {
		e.credit.usage, e.credit.hasUsage = u, true
	}
}

// Tail adds cpen_status, the receipt and cpen_route.
func (e *objectEdit) Tail(dst []byte, hasMembers bool) []byte {
	c := (*chat)(e)
	return c.appendFields(dst, hasMembers, true, true, statusWord(c.status))
}

// editObjectChunk edits one chunk of a streamed JSON answer, eos on its
// last: nil when it goes on as it came.
func (c *chat) editObjectChunk(chunk []byte, eos bool) []byte {
	out, changed := c.object.Feed(c.bufs.resp.b[:0], chunk, eos)
	if !changed {
		return nil
	}
	c.bufs.resp.b = out
	if out == nil {
		// Every byte of the chunk belonged to a replaced value, or is
		// held back for the answer's tail.
		return []byte{}
	}
	return out
}
