// Package quote bounds how much client or provider text a reply or a log
// line repeats.
package quote

import "unicode/utf8"

// Prefix returns s cut to at most n bytes on a character boundary, with an
// ellipsis when it was cut.
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
