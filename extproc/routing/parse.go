// Package routing parses the optional "routing" block of a chat or
// extraction request exactly: decimals never pass through
// float64, and every rejection names its field.
package routing

import (
	"fmt"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/selector"
)

// MaxBlockBytes bounds the routing block; no valid block comes near it.
const MaxBlockBytes = 4096

// FieldError is a client error in one field of the request body.
type FieldError struct {
	Field string // e.g. "routing.currency"
	Msg   string // e.g. `must be "USD"`
}

func (e *FieldError) Error() string { return e.Field + " " + e.Msg }

// Block is a parsed routing block; zero value = no block.
type Block struct {
	MaxInput, MaxOutput, MaxTotal, MinTotal selector.Bound
	RPMCap                                  int // 0 = not sent
	Strategy                                selector.Strategy
	Mode                                    selector.ContinuityMode
	AllowTemporaryHighPrice                 bool
}

// Parse parses the raw JSON value of "routing" (already known to be valid
// JSON). null means no block.
func Parse(raw []byte) (Block, error) {
	var b Block
	if string(raw) == "null" {
		return b, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return b, &FieldError{Field: "routing", Msg: "must be an object"}
	}
	if len(raw) > MaxBlockBytes {
		return b, &FieldError{Field: "routing", Msg: fmt.Sprintf("must be at most %d bytes", MaxBlockBytes)}
	}
	var seen uint16
	for it := jsonbody.Members(raw); it.Next(); {
		m := &it.M
		bit, err := parseField(&b, m, m.Value(raw))
		switch {
		case bit == 0:
			return Block{}, &FieldError{Field: "routing." + m.KeyString(), Msg: "is not a known field"}
		case seen&bit != 0:
			return Block{}, &FieldError{Field: "routing." + m.KeyString(), Msg: "appears twice"}
		case err != nil:
			return Block{}, &FieldError{Field: "routing." + m.KeyString(), Msg: err.Error()}
		}
		seen |= bit
	}
	if b.MinTotal.Set && b.MaxTotal.Set && b.MinTotal.Value.GreaterThan(b.MaxTotal.Value) {
		return Block{}, &FieldError{Field: "routing.min_total_per_1m", Msg: "must not be greater than routing.max_total_per_1m"}
	}
	return b, nil
}

// EffectiveRPM is the limit applied to a request: the client's rpm_cap
// when it is lower than the key's own limit.
func (b *Block) EffectiveRPM(keyLimit int) int {
	if b.RPMCap > 0 && b.RPMCap < keyLimit {
		return b.RPMCap
	}
	return keyLimit
}

// EscalationAllowed reports whether the request consented to a one-shot
// escalation above its cap: strategy continuity, continuity_mode
// temporary_escalation and allow_temporary_high_price, all three. It is
// what cpen_route.escalation_allowed reports, escalated or not.
func (b *Block) EscalationAllowed() bool {
	return b.Strategy == selector.StrategyContinuity && b.Mode == selector.ModeTemporaryEscalation && b.AllowTemporaryHighPrice
}

type msgError string

func (e msgError) Error() string { return string(e) }

// parseField sets one field of b; bit identifies the field for duplicate
// detection, 0 means the key is unknown.
func parseField(b *Block, m *jsonbody.Member, v []byte) (bit uint16, err error) {
	switch {
	case m.KeyIs("currency"):
		if string(v) != `"USD"` {
			return 1 << 0, msgError(`must be "USD"`)
		}
		return 1 << 0, nil
	case m.KeyIs("max_input_per_1m"):
		return 1 << 1, price(&b.MaxInput, v)
	case m.KeyIs("max_output_per_1m"):
		return 1 << 2, price(&b.MaxOutput, v)
	case m.KeyIs("max_total_per_1m"):
		return 1 << 3, price(&b.MaxTotal, v)
	case m.KeyIs("min_total_per_1m"):
		return 1 << 4, price(&b.MinTotal, v)
	case m.KeyIs("rpm_cap"):
		n, ok := jsonbody.IntLiteral(v)
		if !ok || n < 1 || n > config.MaxRPM {
			return 1 << 5, msgError(fmt.Sprintf("must be an integer from 1 to %d", config.MaxRPM))
		}
		b.RPMCap = n
		return 1 << 5, nil
	case m.KeyIs("strategy"):
		st, ok := selector.ParseStrategy(string(unquoted(v)))
		if !ok {
			return 1 << 6, msgError(`must be one of "cheapest", "balanced", "continuity"`)
		}
		b.Strategy = st
		return 1 << 6, nil
	case m.KeyIs("continuity_mode"):
		mode, ok := selector.ParseContinuityMode(string(unquoted(v)))
		if !ok {
			return 1 << 7, msgError(`must be one of "stay_within_cap", "temporary_escalation"`)
		}
		b.Mode = mode
		return 1 << 7, nil
	case m.KeyIs("allow_temporary_high_price"):
		switch string(v) {
		case "true":
			b.AllowTemporaryHighPrice = true
		case "false":
			b.AllowTemporaryHighPrice = false
		default:
			return 1 << 8, msgError("must be a boolean")
		}
		return 1 << 8, nil
	}
	return 0, nil
}

// unquoted is the text of a JSON string value as written, nil for any
// other value. Names are matched as written: an escaped spelling of a
// strategy is not one.
func unquoted(v []byte) []byte {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil
	}
	return v[1 : len(v)-1]
}
