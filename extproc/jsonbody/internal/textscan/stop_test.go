package textscan

import (
	"bytes"
	"fmt"
	"testing"
)

type implementation struct {
	name string
	stop func([]byte) int
}

// stopLoop is the definition Stop must meet, one byte at a time.
func stopLoop(b []byte) int {
	for i, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return i
		}
	}
	return len(b)
}

// plain holds bytes that do not stop a run but sit next to those that do,
// in value or in all but the high bit: a scan that compares too loosely,
// or ignores the high bit, stops on one of them.
const plain = " !#[]a\x7f\x80\x9f\xa0\xa2\xdc\xff"

// fill writes plain bytes over b, varied by position so that every block
// and word boundary sees several of them.
func fill(b []byte) {
	for i := range b {
		b[i] = plain[i%len(plain)]
	}
}

// TestStopEveryByte puts every byte value at every position from 0 to 100
// of buffers of every length up to 101, which crosses each path (byte
// loop, 16- and 32-byte blocks, overlapping last block), with plain text
// after it, with a stop at the end, and with nothing but stops after it.
func TestStopEveryByte(t *testing.T) {
	const maxLen = 101
	afters := []struct {
		name string
		set  func(b []byte, pos int)
	}{
		{"plain after", func([]byte, int) {}},
		{"stop at the end", func(b []byte, pos int) {
			if pos < len(b)-1 {
				b[len(b)-1] = '"'
			}
		}},
		{"stops after", func(b []byte, pos int) {
			for i := pos + 1; i < len(b); i++ {
				b[i] = []byte{'"', '\\', 0x00, 0x1f}[i%4]
			}
		}},
	}
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			buf := make([]byte, maxLen)
			for n := 0; n <= maxLen; n++ {
				b := buf[:n:n]
				fill(b)
				if got := impl.stop(b); got != n {
					t.Fatalf("plain text of %d bytes: got %d, want %d", n, got, n)
				}
				for pos := range n {
					for _, after := range afters {
						fill(b)
						after.set(b, pos)
						wantPlain := stopLoop(b) // b[pos] is plain here
						for c := range 256 {
							b[pos] = byte(c)
							want := wantPlain
							if c < 0x20 || c == '"' || c == '\\' {
								want = pos
							}
							if got := impl.stop(b); got != want {
								t.Fatalf("%#02x at %d of %d, %s: got %d, want %d (%q)", c, pos, n, after.name, got, want, b)
							}
						}
					}
				}
			}
		})
	}
}

func TestStopAnswers(t *testing.T) {
	tests := []struct {
		name string
		b    string
		want int
	}{
		{"nil", "", 0},
		{"quote first", `"abc`, 0},
		{"backslash first", `\abc`, 0},
		{"NUL", "ab\x00", 2},
		{"0x1f", "ab\x1f", 2},
		{"space is plain", "a b", 3},
		{"DEL is plain", "a\x7f", 2},
		{"0xa2 is plain", "\xa2\xdc\x80\x9f", 4},
		{"escape in a long run", "Section 1. Shipments rose again this quarter, while late deliveries fell; the \\\"northern route\\\"", 78},
		{"quote past two blocks", string(bytes.Repeat([]byte("x"), 70)) + `"`, 70},
		{"plain long run", string(bytes.Repeat([]byte("lorem ipsum "), 40)), 480},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, impl := range implementations(t) {
				if got := impl.stop([]byte(tc.b)); got != tc.want {
					t.Errorf("%s(%.40q) = %d, want %d", impl.name, tc.b, got, tc.want)
				}
			}
		})
	}
}

func TestStopDoesNotAllocate(t *testing.T) {
	b := bytes.Repeat([]byte("plain text, "), 20)
	for _, impl := range implementations(t) {
		if n := testing.AllocsPerRun(100, func() { impl.stop(b) }); n != 0 {
			t.Errorf("%s allocates %v times per call", impl.name, n)
		}
	}
}

// FuzzStop: every scan agrees with the byte loop on any input, read from
// each of its first offsets so that blocks start at every alignment.
func FuzzStop(f *testing.F) {
	for _, s := range []string{"", `"`, "plain text", `a\"b`, "\x00", "0123456789abcdefghijklmnopqrstuvwxyz\x1f", "\xa2\xdc\xff\x7f"} {
		f.Add([]byte(s))
	}
	impls := implementations(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for off := range min(len(b)+1, 40) {
			s := b[off:]
			want := stopLoop(s)
			for _, impl := range impls {
				if got := impl.stop(s); got != want {
					t.Fatalf("%s(%q) = %d, want %d", impl.name, s, got, want)
				}
			}
		}
	})
}

func BenchmarkStop(b *testing.B) {
	for _, n := range []int{7, 20, 40, 100, 4096} {
		text := make([]byte, n+1)
		fill(text[:n])
		text[n] = '"'
		for _, impl := range implementations(b) {
			b.Run(fmt.Sprintf("%s/run=%d", impl.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					impl.stop(text)
				}
			})
		}
	}
}
