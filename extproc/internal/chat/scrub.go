package chat

import (
	"bytes"
)

// minScrubbedName is the shortest provider name searched for in error
// text and header values: a shorter one would match inside ordinary words.
const minScrubbedName = 3

// scrubError removes the provider's identity from an error body: the
// route's upstream model becomes the alias and the provider's name
// "provider". A JSON object also gets the alias in "model", cpen_status
// "failed" and cpen_route. Nil leaves the body as it is.
func (c *chat) scrubError(body []byte) []byte {
	clean := body
	if m := c.decision.Route.Model; m != "" && bytes.Contains(clean, []byte(m)) {
		clean = bytes.ReplaceAll(clean, []byte(m), []byte(plainAlias(c.decision.Tier.Alias)))
	}
	if name := c.upstream.Name; len(name) >= minScrubbedName && indexFold(clean, name) >= 0 {
		clean = replaceFold(clean, name, "provider")
	}
	if c.rewrite && c.shape(clean) {
		c.bufs.resp.b = c.patchObject(c.bufs.resp.b[:0], clean, true, true, "failed")
		return c.bufs.resp.b
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
// or -1. Candidates are found by the first byte in either case, so a value
// without it is scanned at IndexByte's speed.
func indexFold(s []byte, sub string) int {
	n := len(sub)
	if n == 0 || n > len(s) {
		return -1
	}
	lo, up := lowerASCII(sub[0]), upperASCII(sub[0])
	for i := 0; i+n <= len(s); {
		j := indexEither(s[i:len(s)-n+1], lo, up)
		if j < 0 {
			return -1
		}
		i += j
		k := 1
		for k < n && lowerASCII(s[i+k]) == lowerASCII(sub[k]) {
			k++
		}
		if k == n {
			return i
		}
		i++
	}
	return -1
}

// indexEither returns the first index of a or b in s, or -1.
func indexEither(s []byte, a, b byte) int {
	i := bytes.IndexByte(s, a)
	if a == b {
		return i
	}
	if j := bytes.IndexByte(s, b); j >= 0 && (i < 0 || j < i) {
		return j
	}
	return i
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

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
