//go:build !purego

package textscan

import "golang.org/x/sys/cpu"

// useAVX2 is set once, when the package loads, and never changes: whether
// the CPU and the OS support the 32-byte vector scan.
var useAVX2 = cpu.X86.HasAVX2

// Stop returns the index of the first byte of b that is '"', '\\' or
// below 0x20, or len(b) when b has none.
//
// It is small enough to inline, so that callers reach the assembly in one
// direct call: a typical call scans a few dozen bytes, and a second call
// in between would cost about as much as the scan.
func Stop(b []byte) int {
	return stopAVX2(b)
}

// stopAVX2 is Stop for CPUs with AVX2. On others it hands over to
// stopGeneric itself, which spares Stop a branch that would keep it from
// being inlined. It reads only bytes of b.
//
//go:noescape
func stopAVX2(b []byte) int
