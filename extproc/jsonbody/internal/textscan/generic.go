package textscan

import (
	"encoding/binary"
	"math/bits"
)

// stopGeneric is Stop in portable Go. It reads a word at a time: one word
// first, as most runs are short, then four words at a time once the run
// proves longer, and byte by byte in the last few bytes.
func stopGeneric(b []byte) int {
	i := 0
	if len(b) >= 8 {
		if m := stops(binary.LittleEndian.Uint64(b)); m != 0 {
			return bits.TrailingZeros64(m) >> 3
		}
		i = 8
	}
	for i+32 <= len(b) {
		w := b[i : i+32 : i+32]
		m0 := stops(binary.LittleEndian.Uint64(w))
		m1 := stops(binary.LittleEndian.Uint64(w[8:]))
		m2 := stops(binary.LittleEndian.Uint64(w[16:]))
		m3 := stops(binary.LittleEndian.Uint64(w[24:]))
		if m0|m1|m2|m3 != 0 {
			return i + firstStop(m0, m1, m2, m3)
		}
		i += 32
	}
	for i+8 <= len(b) {
		if m := stops(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && !isStop(b[i]) {
		i++
	}
	return i
}

// isStop reports whether c ends a run of plain string text.
func isStop(c byte) bool {
	return c < 0x20 || c == '"' || c == '\\'
}

const (
	ones        = 0x0101010101010101
	highBits    = 0x8080808080808080
	backslashes = '\\' * ones
)

// stops sets the high bit of the bytes of w (little-endian) that end a
// run of plain string text: '"', '\\' and control bytes below 0x20. Each
// term is the has-less-than trick, whose borrow can only mark bytes above
// its first true hit, so the lowest set bit is always a true stop; callers
// use only that one. The first term flips bit 1 so that '"' becomes 0x20
// and control bytes stay below it: one "less than 0x21" test finds both.
// The terms share one mask, as the high bit of w^c is the high bit of w
// for any c below 0x80.
func stops(w uint64) uint64 {
	return (((w ^ 0x02*ones) - 0x21*ones) | ((w ^ backslashes) - ones)) &^ w & highBits
}

// firstStop returns the offset of the first stop in four words of stops
// masks, at least one of them not zero.
func firstStop(m0, m1, m2, m3 uint64) int {
	switch {
	case m0 != 0:
		return bits.TrailingZeros64(m0) >> 3
	case m1 != 0:
		return 8 + bits.TrailingZeros64(m1)>>3
	case m2 != 0:
		return 16 + bits.TrailingZeros64(m2)>>3
	}
	return 24 + bits.TrailingZeros64(m3)>>3
}
