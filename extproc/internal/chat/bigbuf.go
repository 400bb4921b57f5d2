package chat

import (
	"math/bits"
	"sync"
)

// Large bodies are edited into buffers kept in size classes (powers of
// two from 128 KiB to 64 MiB) between requests: a fresh buffer of a MiB
// is zeroed by the allocator and paid again by the collector, which
// doubled what a large exchange cost. sync.Pool is per-P (no global lock),
// and lets the collector take buffers that stay unused.
const (
	minBigClass = 17 // 128 KiB
	maxBigClass = 26 // 64 MiB
)

// BigBuffers keeps large body buffers between requests. A buffer travels
// with its box (the pointer the pool holds), so keeping it again costs no
// allocation.
type BigBuffers struct {
	classes [maxBigClass - minBigClass + 1]sync.Pool
}

// bigBuf is a buffer and its box (nil until it was first kept).
type bigBuf struct {
	b   []byte
	box *[]byte
}

// get returns an empty buffer with room for n bytes: a kept one of n's
// class, or a new one of the class's full size.
func (p *BigBuffers) get(n int) bigBuf {
	if p == nil || n <= 1<<(minBigClass-1) || n > 1<<maxBigClass {
		return bigBuf{b: make([]byte, 0, n)}
	}
	c := bits.Len(uint(n - 1)) // the class whose size 1<<c holds n
	if box, ok := p.classes[c-minBigClass].Get().(*[]byte); ok {
		return bigBuf{b: (*box)[:0], box: box}
	}
	return bigBuf{b: make([]byte, 0, 1<<c)}
}

// put keeps a buffer for a later request when its capacity is a class's
// size.
func (p *BigBuffers) put(buf bigBuf) {
	n := cap(buf.b)
	if p == nil || n < 1<<minBigClass || n > 1<<maxBigClass || n&(n-1) != 0 {
		return
	}
	if buf.box == nil {
		buf.box = new([]byte)
	}
	*buf.box = buf.b[:0]
	p.classes[bits.Len(uint(n))-1-minBigClass].Put(buf.box)
}

// room returns buf's bytes, grown from p when needed, with room for n
// bytes after their length.
func (p *BigBuffers) room(buf *bigBuf, n int) []byte {
	if cap(buf.b)-len(buf.b) >= n {
		return buf.b
	}
	next := p.get(len(buf.b) + n)
	next.b = append(next.b, buf.b...)
	p.put(*buf)
	*buf = next
	return buf.b
}
