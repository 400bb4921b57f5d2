package routing

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		check func(b Block) bool
	}{
		{"null", `null`, func(b Block) bool { return b == Block{} }},
		{"empty", `{}`, func(b Block) bool { return !b.MaxTotal.Set && b.Strategy == selector.StrategyBalanced }},
		{"string price", `{"max_total_per_1m":"0.30"}`, func(b Block) bool { return b.MaxTotal.Set && b.MaxTotal.Value.String() == "0.3" }},
		{"number price", `{"max_total_per_1m":0.30}`, func(b Block) bool { return b.MaxTotal.Value.String() == "0.3" }},
		{"exponent number", `{"max_input_per_1m":2.8e-1}`, func(b Block) bool { return b.MaxInput.Value.String() == "0.28" }},
		{"exponent string", `{"max_output_per_1m":"2.8e-1"}`, func(b Block) bool { return b.MaxOutput.Value.String() == "0.28" }},
		{"12 digits after dropping zeros", `{"min_total_per_1m":"0.280000000000"}`, func(b Block) bool { return b.MinTotal.Value.String() == "0.28" }},
		{"12 significant fraction digits", `{"min_total_per_1m":"0.000000000001"}`, func(b Block) bool { return b.MinTotal.Set }},
		{"bounds", `{"min_total_per_1m":0,"max_total_per_1m":1000000}`, func(b Block) bool { return b.MinTotal.Value.IsZero() && b.MaxTotal.Value.String() == "1000000" }},
		{"min equal max", `{"min_total_per_1m":"0.3","max_total_per_1m":0.30}`, func(b Block) bool { return b.MinTotal.Set && b.MaxTotal.Set }},
		{"all fields", `{"currency":"USD","rpm_cap":60,"strategy":"continuity","continuity_mode":"temporary_escalation","allow_temporary_high_price":true}`,
			func(b Block) bool {
				return b.RPMCap == 60 && b.Strategy == selector.StrategyContinuity && b.Mode == selector.ModeTemporaryEscalation &&
					b.AllowTemporaryHighPrice && b.EscalationAllowed()
			}},
		{"cheapest", `{"strategy":"cheapest","allow_temporary_high_price":true}`, func(b Block) bool {
			return b.Strategy == selector.StrategyCheapest && !b.EscalationAllowed()
		}},
		{"rpm max", `{"rpm_cap":1000000}`, func(b Block) bool { return b.RPMCap == 1000000 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse([]byte(tc.raw))
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.raw, err)
			}
			if !tc.check(b) {
				t.Errorf("Parse(%s) = %+v", tc.raw, b)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		raw  string
		want string // the full detail: field and reason
	}{
		{`"x"`, "routing must be an object"},
		{`[1]`, "routing must be an object"},
		{`{"currency":"EUR"}`, `routing.currency must be "USD"`},
		{`{"currency":"usd"}`, `routing.currency must be "USD"`},
		{`{"currency":null}`, `routing.currency must be "USD"`},
		{`{"max_total_per_1m":"-0.1"}`, "routing.max_total_per_1m must lie in [0, 1000000]"},
		{`{"max_total_per_1m":-0.1}`, "routing.max_total_per_1m must lie in [0, 1000000]"},
		{`{"max_input_per_1m":1000000.000000000001}`, "routing.max_input_per_1m must lie in [0, 1000000]"},
		{`{"max_input_per_1m":1e999}`, "routing.max_input_per_1m must lie in [0, 1000000]"},
		{`{"max_input_per_1m":1e99999}`, "routing.max_input_per_1m must be a decimal number (string or number)"},
		{`{"max_output_per_1m":"abc"}`, "routing.max_output_per_1m must be a decimal number (string or number)"},
		{`{"max_output_per_1m":" 0.1"}`, "routing.max_output_per_1m must be a decimal number (string or number)"},
		{`{"max_output_per_1m":"0x10"}`, "routing.max_output_per_1m must be a decimal number (string or number)"},
		{`{"max_output_per_1m":true}`, "routing.max_output_per_1m must be a decimal number (string or number)"},
		{`{"max_output_per_1m":""}`, "routing.max_output_per_1m must be a decimal number (string or number)"},
		{`{"min_total_per_1m":"0.0000000000001"}`, "routing.min_total_per_1m must have at most 12 fractional digits"},
		{`{"min_total_per_1m":"0.4","max_total_per_1m":"0.3"}`, "routing.min_total_per_1m must not be greater than routing.max_total_per_1m"},
		{`{"rpm_cap":"60"}`, "routing.rpm_cap must be an integer from 1 to 1000000"},
		{`{"rpm_cap":2.5}`, "routing.rpm_cap must be an integer from 1 to 1000000"},
		{`{"rpm_cap":60.0}`, "routing.rpm_cap must be an integer from 1 to 1000000"},
		{`{"rpm_cap":6e1}`, "routing.rpm_cap must be an integer from 1 to 1000000"},
		{`{"rpm_cap":0}`, "routing.rpm_cap must be an integer from 1 to 1000000"},
		{`{"rpm_cap":-5}`, "routing.rpm_cap must be an integer from 1 to 1000000"},
		{`{"rpm_cap":1000001}`, "routing.rpm_cap must be an integer from 1 to 1000000"},
		{`{"strategy":"fastest"}`, `routing.strategy must be one of "cheapest", "balanced", "continuity"`},
		{`{"continuity_mode":"always"}`, `routing.continuity_mode must be one of "stay_within_cap", "temporary_escalation"`},
		{`{"allow_temporary_high_price":"true"}`, "routing.allow_temporary_high_price must be a boolean"},
		{`{"allow_temporary_high_price":1}`, "routing.allow_temporary_high_price must be a boolean"},
		{`{"colour":"blue"}`, "routing.colour is not a known field"},
		{`{"strategy":"cheapest","strategy":"balanced"}`, "routing.strategy appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			_, err := Parse([]byte(tc.raw))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%s) = %v, want a *FieldError", tc.raw, err)
			}
			if err.Error() != tc.want {
				t.Errorf("Parse(%s) = %q, want %q", tc.raw, err.Error(), tc.want)
			}
		})
	}
}

func TestEffectiveRPM(t *testing.T) {
	tests := []struct{ cap, key, want int }{{0, 600, 600}, {60, 600, 60}, {900, 600, 600}}
	for _, tc := range tests {
		b := Block{RPMCap: tc.cap}
		if got := b.EffectiveRPM(tc.key); got != tc.want {
			t.Errorf("cap %d key %d: got %d, want %d", tc.cap, tc.key, got, tc.want)
		}
	}
}

// FuzzParseRouting: any input gives a valid block or a *FieldError, never a
// panic; a valid block holds only prices within the contract's limits.
func FuzzParseRouting(f *testing.F) {
	for _, s := range []string{`null`, `{}`, `{"max_total_per_1m":"0.30","min_total_per_1m":0.05,"strategy":"balanced"}`,
		`{"rpm_cap":60,"currency":"USD"}`, `{"max_input_per_1m":2.8e-1}`, `{"allow_temporary_high_price":true}`, `[]`, `{"a":{"b":[1]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // Parse takes a value already validated as JSON
		}
		b, err := Parse(raw)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, bd := range []selector.Bound{b.MaxInput, b.MaxOutput, b.MaxTotal, b.MinTotal} {
			if bd.Set && (bd.Value.IsNegative() || bd.Value.GreaterThan(decimal.NewFromInt(config.MaxPricePer1M)) || !bd.Value.Truncate(12).Equal(bd.Value)) {
				t.Fatalf("out-of-contract price accepted: %s", bd.Value)
			}
		}
		if b.RPMCap < 0 || b.RPMCap > config.MaxRPM {
			t.Fatalf("rpm_cap %d accepted", b.RPMCap)
		}
	})
}
