package chat

import "github.com/cpen/router/extproc/quote"

// maxQuoted bounds how much of one client-sent value (a model name, a
// field name) an error reply or a log line repeats.
const maxQuoted = 64

// clip cuts client text to at most n bytes (see quote.Prefix).
func clip(s string, n int) string { return quote.Prefix(s, n) }
