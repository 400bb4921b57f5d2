//go:build !amd64 || purego

package textscan

// Stop returns the index of the first byte of b that is '"', '\\' or
// below 0x20, or len(b) when b has none.
func Stop(b []byte) int {
	return stopGeneric(b)
}
