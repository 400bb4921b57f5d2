package standin

import "encoding/binary"

// HTTP/2 framing (RFC 9113 §3.4 and §4.1), just enough to find frame
// boundaries in the ext_proc connection's byte streams and to write a PING.
const (
	clientPreface  = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	frameHeaderLen = 9
	framePing      = 0x6
	flagAck        = 0x1
	pingPayloadLen = 8
)

// frameScanner follows one direction of an HTTP/2 connection. It is fed the
// bytes in whatever pieces they come and reports each frame header once all
// nine of its bytes have been seen. It never buffers a payload.
type frameScanner struct {
	skip int // bytes still to pass before the next frame header (a payload, or the client preface)
	hdr  [frameHeaderLen]byte
	hdrN int // bytes of hdr filled so far
}

// newOutboundScanner follows what a client writes: the preface, then frames.
func newOutboundScanner() *frameScanner { return &frameScanner{skip: len(clientPreface)} }

// atBoundary reports whether the bytes seen so far end exactly between two
// frames (after the preface), so that a whole frame may be inserted here.
func (s *frameScanner) atBoundary() bool { return s.skip == 0 && s.hdrN == 0 }

// advance consumes b up to and including the end of the frame in progress,
// or all of b if that frame goes on past it, and returns how many bytes it
// took. onHeader, if set, sees each completed frame header.
func (s *frameScanner) advance(b []byte, onHeader func(typ, flags byte)) int {
	n := 0
	for n < len(b) {
		if s.skip > 0 {
			k := min(s.skip, len(b)-n)
			s.skip -= k
			n += k
			if s.skip == 0 {
				return n
			}
			continue
		}
		k := copy(s.hdr[s.hdrN:], b[n:])
		s.hdrN += k
		n += k
		if s.hdrN < frameHeaderLen {
			continue
		}
		s.hdrN = 0
		s.skip = int(s.hdr[0])<<16 | int(s.hdr[1])<<8 | int(s.hdr[2])
		if onHeader != nil {
			onHeader(s.hdr[3], s.hdr[4])
		}
		if s.skip == 0 {
			return n
		}
	}
	return n
}

// scan feeds all of b.
func (s *frameScanner) scan(b []byte, onHeader func(typ, flags byte)) {
	for len(b) > 0 {
		b = b[s.advance(b, onHeader):]
	}
}

// pingFrame encodes a PING (not an ACK) on stream 0 carrying data.
func pingFrame(data uint64) []byte {
	f := make([]byte, frameHeaderLen+pingPayloadLen)
	f[2] = pingPayloadLen
	f[3] = framePing
	binary.BigEndian.PutUint64(f[frameHeaderLen:], data)
	return f
}
