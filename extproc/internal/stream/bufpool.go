package stream

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// Buffer classes: powers of two from 256 B to 64 MiB.
const (
	minBufClass = 8
	maxBufClass = 26
)

// BufferPool is the gRPC buffer pool of the ext_proc server: frames read,
// messages gathered for decoding and answers encoded, in power-of-two
// classes, handed out without zeroing. gRPC's default pool has no class
// between 32 KiB and 1 MiB and clears every buffer it hands out, so each
// STREAMED chunk of 64 KiB cost a cleared MiB and each 200 KiB request
// another. gRPC writes every byte of a buffer's requested length before
// reading it (a frame read, a copy of the parts, an encoding), so a
// buffer's old bytes are never seen.
type BufferPool struct {
	classes [maxBufClass - minBufClass + 1]sync.Pool
}

var _ mem.BufferPool = (*BufferPool)(nil)

// Get returns a buffer of length n.
func (p *BufferPool) Get(n int) *[]byte {
	c := max(bits.Len(uint(n-1)), minBufClass) // 1<<c holds n
	if n <= 0 || c > maxBufClass {
		b := make([]byte, max(n, 0))
		return &b
	}
	if b, ok := p.classes[c-minBufClass].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put keeps a buffer of a class's size for a later Get.
func (p *BufferPool) Put(b *[]byte) {
	n := cap(*b)
	if n < 1<<minBufClass || n > 1<<maxBufClass || n&(n-1) != 0 {
		return
	}
	p.classes[bits.Len(uint(n))-1-minBufClass].Put(b)
}
