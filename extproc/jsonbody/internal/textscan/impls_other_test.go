//go:build !amd64 || purego

package textscan

import "testing"

// implementations lists every scan this build can run.
func implementations(tb testing.TB) []implementation {
	tb.Helper()
	return []implementation{{"Stop", Stop}, {"generic", stopGeneric}}
}
