package selector

import (
	"testing"

	"github.com/shopspring/decimal"
)

// The seed route's worked example, and fee and currency conversion, each
// computed here from the catalog's own figures.
func TestCost(t *testing.T) {
	d := decimal.RequireFromString
	tests := []struct {
		name              string
		in, out, fee, usd string
		prompt, compl     int64
		want              string
	}{
		{"seed route", "0.04", "0.24", "0", "1", 42, 18, "0.000006"},
		{"fee", "0.04", "0.24", "0.1", "1", 42, 18, "0.0000066"},
		{"EUR", "0.035", "0.21", "0", "1.08", 1000, 500, "0.0001512"},
		{"EUR and fee", "0.035", "0.21", "0.15", "1.08", 7, 3, "0.00000108675"},
		{"nothing", "0.04", "0.24", "0", "1", 0, 0, "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			markup := decimal.NewFromInt(1).Add(d(tc.fee))
			r := &Route{
				VisibleInput:  d(tc.in).Mul(d(tc.usd)).Mul(markup),
				VisibleOutput: d(tc.out).Mul(d(tc.usd)).Mul(markup),
			}
			got := Cost(r, tc.prompt, tc.compl)
			if !got.Equal(d(tc.want)) || FormatPrice(got) != tc.want {
				t.Errorf("Cost = %s, want %s", FormatPrice(got), tc.want)
			}
		})
	}
}
