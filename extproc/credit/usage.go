package credit

import "github.com/cpen/router/extproc/jsonbody"

// Usage is the token count a provider reports for one answer.
type Usage struct {
	Prompt, Completion int64
}

// ParseUsage reads the "usage" member's prompt_tokens and
// completion_tokens from a provider's answer object or stream chunk, whose
// shape the caller has checked. ok is false when usage is absent, null or
// lacks either count as a plain integer: the caller then charges the
// reservation, as the provider may still bill.
func ParseUsage(obj []byte) (Usage, bool) {
	for it := jsonbody.Members(obj); it.Next(); {
		if it.M.KeyIs("usage") {
			return usageObject(it.M.Value(obj))
		}
	}
	return Usage{}, false
}

// UsageValue reads a "usage" member's value, as ParseUsage does.
func UsageValue(v []byte) (Usage, bool) { return usageObject(v) }

func usageObject(v []byte) (Usage, bool) {
	if len(v) == 0 || v[0] != '{' {
		return Usage{}, false
	}
	var u Usage
	seen := 0
	for it := jsonbody.Members(v); it.Next(); {
		var dst *int64
		switch {
		case it.M.KeyIs("prompt_tokens"):
			dst = &u.Prompt
		case it.M.KeyIs("completion_tokens"):
			dst = &u.Completion
		default:
			continue
		}
		n, ok := jsonbody.IntLiteral(it.M.Value(v))
		if !ok {
			return Usage{}, false
		}
		*dst = int64(n)
		seen++
	}
	if seen != 2 {
		return Usage{}, false
	}
	return u, true
}
