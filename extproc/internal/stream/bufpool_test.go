package stream

import "testing"

// Buffers come in power-of-two classes, of the length asked for, and a
// buffer put back serves the next Get of its class.
func TestBufferPool(t *testing.T) {
	var p BufferPool
	for _, c := range []struct{ n, cap int }{
		{1, 256}, {256, 256}, {257, 512}, {32<<10 + 10, 64 << 10}, {200 << 10, 256 << 10}, {1 << 20, 1 << 20}, {64 << 20, 64 << 20}, {64<<20 + 1, 64<<20 + 1}, {0, 0},
	} {
		b := p.Get(c.n)
		if len(*b) != c.n || cap(*b) != c.cap {
			t.Errorf("Get(%d): len %d cap %d, want cap %d", c.n, len(*b), cap(*b), c.cap)
		}
		p.Put(b)
	}
	b := p.Get(40 << 10)
	(*b)[0] = 'x'
	p.Put(b)
	again := p.Get(33 << 10)
	if cap(*again) != 64<<10 || len(*again) != 33<<10 {
		t.Fatalf("reused buffer: len %d cap %d", len(*again), cap(*again))
	}
	// A buffer of another capacity is not kept: it would serve a class
	// it does not fill.
	odd := make([]byte, 1000)
	p.Put(&odd)
	if got := p.Get(1000); cap(*got) != 1024 {
		t.Errorf("a 1000-byte buffer was kept: cap %d", cap(*got))
	}
}
