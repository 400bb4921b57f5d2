package extproc

import "unicode/utf8"

// maxQuoted bounds how much of one client-sent value (a model name, a
// field name) an error reply or a log line repeats.
const maxQuoted = 64

// maxDetail bounds a whole error detail: a client cannot make a refusal
// body or its log line larger than this by sending a large value.
const maxDetail = 512

// clip returns s cut to at most n bytes on a character boundary, with an
// ellipsis when it was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
