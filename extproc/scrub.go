package extproc

import (
	"bytes"

	"github.com/cpen/router/extproc/jsonbody"
)

// minScrubbedName is the shortest provider name searched for in error
// text and header values: a shorter one would match inside ordinary words.
const minScrubbedName = 3

// scrubError removes the provider's identity from an error body: the
// route's upstream model becomes the alias and the provider's name
// "provider". A JSON object also gets the alias in "model", cpen_status
// "failed" and cpen_route. Nil leaves the body as it is.
func (x *exchange) scrubError(body []byte) []byte {
	c := &x.chat
	clean := body
	if m := c.decision.Route.Model; m != "" && bytes.Contains(clean, []byte(m)) {
		clean = bytes.ReplaceAll(clean, []byte(m), []byte(plainAlias(c.decision.Tier.Alias)))
	}
	if name := c.upstream.name; len(name) >= minScrubbedName && indexFold(clean, name) >= 0 {
		clean = replaceFold(clean, name, "provider")
	}
	if c.rewrite && jsonbody.Shape(clean) {
		x.bufs.resp = x.patchObject(x.bufs.resp[:0], clean, true, true, "failed")
		return x.bufs.resp
	}
	if len(clean) == len(body) && bytes.Equal(clean, body) {
		return nil
	}
	return clean
}

// plainAlias is the alias as it may stand inside a JSON string without
// escaping; an alias that would need escaping is replaced by a neutral
// word, so that a scrubbed body stays valid JSON.
func plainAlias(alias string) string {
	for i := 0; i < len(alias); i++ {
		if c := alias[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return "model"
		}
	}
	return alias
}

// indexFold returns the first index of sub in s under ASCII case folding,
// or -1.
func indexFold(s []byte, sub string) int {
	n := len(sub)
	if n == 0 || n > len(s) {
		return -1
	}
	first := lowerASCII(sub[0])
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == lowerASCII(sub[j]) {
			j++
		}
		if j == n {
			return i
		}
	}
	return -1
}

// replaceFold replaces every ASCII-case-insensitive occurrence of old.
func replaceFold(s []byte, old, repl string) []byte {
	out := make([]byte, 0, len(s))
	for {
		i := indexFold(s, old)
		if i < 0 {
			return append(out, s...)
		}
		out = append(append(out, s[:i]...), repl...)
		s = s[i+len(old):]
	}
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
