package selector

import (
	"math"
	"math/rand/v2"
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

// The fixed-point cost equals the decimal one, digit for digit, for prices
// on the 1e-12 grid and any token counts; routes off the grid, or counts
// past what it holds, fall back to decimals.
func TestFixedCost(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		in := decimal.New(rng.Int64N(2_000_000_000_000_000), -int32(rng.IntN(13)))
		out := decimal.New(rng.Int64N(2_000_000_000_000_000), -int32(rng.IntN(13)))
		if in.GreaterThan(decimal.NewFromInt(1_000_000)) || out.GreaterThan(decimal.NewFromInt(1_000_000)) {
			continue
		}
		r := &Route{VisibleInput: in, VisibleOutput: out}
		r.setFixedCost()
		p, c := rng.Int64N(1<<40), rng.Int64N(1<<40)
		if rng.IntN(4) == 0 {
			p, c = rng.Int64N(100000), rng.Int64N(100000)
		}
		want := in.Mul(decimal.NewFromInt(p)).Add(out.Mul(decimal.NewFromInt(c))).Shift(-6)
		a, ok := r.FixedCost(p, c)
		if !ok {
			t.Fatalf("FixedCost(%s, %s, %d, %d) not ok", in, out, p, c)
		}
		if got := string(a.AppendTo(nil)); got != FormatPrice(want) || !a.Decimal().Equal(want) {
			t.Fatalf("FixedCost(%s, %s, %d, %d) = %s (%s), want %s", in, out, p, c, got, a.Decimal(), FormatPrice(want))
		}
		if !Cost(r, p, c).Equal(want) {
			t.Fatalf("Cost(%s, %s, %d, %d) = %s, want %s", in, out, p, c, Cost(r, p, c), want)
		}
	}
	off := &Route{VisibleInput: decimal.RequireFromString("0.0000000000001"), VisibleOutput: decimal.NewFromInt(1)}
	off.setFixedCost()
	if _, ok := off.FixedCost(1, 1); ok {
		t.Error("a price off the 1e-12 grid took the fixed path")
	}
	if got := Cost(off, 3, 0); !got.Equal(decimal.RequireFromString("0.0000000000000000003")) {
		t.Errorf("decimal fallback %s", got)
	}
	big := &Route{VisibleInput: decimal.NewFromInt(1_000_000), VisibleOutput: decimal.NewFromInt(1_000_000)}
	big.setFixedCost()
	want := decimal.NewFromInt(math.MaxInt64).Mul(decimal.NewFromInt(2))
	if a, ok := big.FixedCost(math.MaxInt64, math.MaxInt64); !ok || !a.Decimal().Equal(want) {
		t.Errorf("the largest counts at the largest catalog price: %v %v, want %s", a.Decimal(), ok, want)
	}
	huge := &Route{VisibleInput: decimal.NewFromInt(3_000_000), VisibleOutput: decimal.NewFromInt(3_000_000)}
	huge.setFixedCost()
	if _, ok := huge.FixedCost(math.MaxInt64, math.MaxInt64); ok {
		t.Error("an amount past what AppendTo divides took the fixed path")
	}
	if got := Cost(huge, math.MaxInt64, 0); !got.Equal(decimal.NewFromInt(math.MaxInt64).Mul(decimal.NewFromInt(3))) {
		t.Errorf("decimal fallback for a huge amount: %s", got)
	}
	if a, ok := huge.FixedCost(0, 0); !ok || !a.IsZero() || string(a.AppendTo(nil)) != "0" {
		t.Errorf("zero cost %v %v", a, ok)
	}
}

func BenchmarkFixedCost(b *testing.B) {
	r := &Route{VisibleInput: decimal.RequireFromString("0.04"), VisibleOutput: decimal.RequireFromString("0.24")}
	r.setFixedCost()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		a, _ := r.FixedCost(42, 18)
		buf = a.AppendTo(buf[:0])
	}
}
