//go:build !purego

package textscan

import "testing"

// implementations lists every scan this build can run: the portable one
// always, the AVX2 one when the CPU has it, and Stop's own choice.
func implementations(tb testing.TB) []implementation {
	tb.Helper()
	impls := []implementation{{"Stop", Stop}, {"generic", stopGeneric}}
	if !useAVX2 {
		tb.Log("the CPU lacks AVX2: its scan is not tested")
		return impls
	}
	return append(impls, implementation{"avx2", stopAVX2})
}

// TestStopWithoutAVX2 runs Stop as a CPU without AVX2 would: the assembly
// must hand b, and the answer, through to the portable scan unchanged.
func TestStopWithoutAVX2(t *testing.T) {
	saved := useAVX2
	useAVX2 = false
	t.Cleanup(func() { useAVX2 = saved })

	buf := make([]byte, 100)
	for n := 0; n <= len(buf); n++ {
		b := buf[:n:n]
		fill(b)
		if got := Stop(b); got != n {
			t.Fatalf("plain text of %d bytes: got %d, want %d", n, got, n)
		}
		for pos := range n {
			fill(b)
			b[pos] = '\\'
			if got := Stop(b); got != pos {
				t.Fatalf("'\\\\' at %d of %d: got %d, want %d", pos, n, got, pos)
			}
		}
	}
}
