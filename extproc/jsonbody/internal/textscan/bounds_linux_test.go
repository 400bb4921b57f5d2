package textscan

import (
	"os"
	"syscall"
	"testing"
)

// TestStopStaysInBounds places each buffer right against unmapped memory,
// after its end and before its start: a scan that reads one byte outside
// b faults. Plain text makes every scan read all of b.
func TestStopStaysInBounds(t *testing.T) {
	page := os.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Munmap(mem); err != nil {
			t.Errorf("munmap: %v", err)
		}
	})
	// Pages one and three guard page two.
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(mem[2*page:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	mid := mem[page : 2*page : 2*page]
	fill(mid)
	for _, impl := range implementations(t) {
		for n := 0; n <= 200; n++ {
			atEnd := mid[len(mid)-n:]
			if got := impl.stop(atEnd); got != n {
				t.Errorf("%s: %d bytes before unmapped memory: got %d, want %d", impl.name, n, got, n)
			}
			atStart := mid[:n:n]
			if got := impl.stop(atStart); got != n {
				t.Errorf("%s: %d bytes after unmapped memory: got %d, want %d", impl.name, n, got, n)
			}
		}
	}
}
