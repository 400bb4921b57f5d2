package selector

import (
	"math/big"
	"testing"

	"github.com/shopspring/decimal"
)

func TestToFixed(t *testing.T) {
	tests := []struct {
		name   string
		in     decimal.Decimal
		want   int64
		wantOK bool
	}{
		{name: "zero", in: mustDec("0"), want: 0, wantOK: true},
		{name: "zero value", in: decimal.Decimal{}, want: 0, wantOK: true},
		{name: "cents", in: mustDec("0.30"), want: 300_000_000_000, wantOK: true},
		{name: "12 digits", in: mustDec("0.000000000001"), want: 1, wantOK: true},
		{name: "trailing zeros past 12 digits", in: mustDec("0.280000000000000"), want: 280_000_000_000, wantOK: true},
		{name: "long coefficient with trailing zeros", in: mustDec("0.2800000000000000000000"), want: 280_000_000_000, wantOK: true},
		{name: "exponent form", in: mustDec("2.8e-1"), want: 280_000_000_000, wantOK: true},
		{name: "one million", in: mustDec("1000000"), want: FixedMaxCap, wantOK: true},
		{name: "one million, long form", in: mustDec("1000000.000000000000000"), want: FixedMaxCap, wantOK: true},
		{name: "positive exponent", in: decimal.New(1, 6), want: FixedMaxCap, wantOK: true},
		{name: "13 digits", in: mustDec("0.0000000000001"), wantOK: false},
		{name: "13 digits, long coefficient", in: mustDec("0.1234567890123456789012"), wantOK: false},
		{name: "above a million", in: mustDec("1000000.000000000001"), wantOK: false},
		{name: "far above", in: decimal.New(1, 40), wantOK: false},
		{name: "negative", in: mustDec("-0.01"), wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ToFixed(tt.in)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Errorf("ToFixed(%s) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFixedBounds(t *testing.T) {
	tests := []struct {
		name   string
		in     decimal.Decimal
		lo, hi int64
		exact  bool
	}{
		{name: "zero", in: decimal.Decimal{}, lo: 0, hi: 0, exact: true},
		{name: "on grid", in: mustDec("0.28"), lo: 280_000_000_000, hi: 280_000_000_000, exact: true},
		{name: "13 digits", in: mustDec("0.1000000000001"), lo: 100_000_000_000, hi: 100_000_000_001},
		{name: "negative 13 digits", in: mustDec("-0.1000000000001"), lo: -100_000_000_001, hi: -100_000_000_000},
		{name: "tiny", in: mustDec("1e-30"), lo: 0, hi: 1},
		{name: "tiny negative", in: mustDec("-1e-30"), lo: -1, hi: 0},
		{name: "long coefficient", in: mustDec("0.1234567890243456789012"), lo: 123_456_789_024, hi: 123_456_789_025},
		{name: "long coefficient on grid", in: mustDec("0.2800000000000000000000"), lo: 280_000_000_000, hi: 280_000_000_000, exact: true},
		{name: "saturates", in: mustDec("5000000"), lo: fixedSat, hi: fixedSat},
		{name: "saturation edge is exact", in: mustDec("4000000"), lo: fixedSat, hi: fixedSat, exact: true},
		{name: "saturates long", in: mustDec("5000000.0000000000000000001"), lo: fixedSat, hi: fixedSat},
		{name: "saturates negative", in: mustDec("-5000000"), lo: -fixedSat, hi: -fixedSat},
		{name: "huge exponent", in: decimal.New(7, 50), lo: fixedSat, hi: fixedSat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi, exact := fixedBounds(tt.in)
			if lo != tt.lo || hi != tt.hi || exact != tt.exact {
				t.Errorf("fixedBounds(%s) = %d, %d, %v; want %d, %d, %v", tt.in, lo, hi, exact, tt.lo, tt.hi, tt.exact)
			}
		})
	}
}

func TestToFixedDoesNotAllocate(t *testing.T) {
	caps := []decimal.Decimal{mustDec("0.30"), mustDec("1000000"), mustDec("0.000000000001"), mustDec("7e-3")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range caps {
			if _, ok := ToFixed(c); !ok {
				t.Fatal("rejected")
			}
			fixedBounds(c)
		}
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
}

// FuzzFixedFit checks that the fixed-point fit decisions equal the exact
// decimal comparisons, for any route price and any cap, and that ToFixed
// accepts exactly the caps on the 1e-12 grid within [0, 1e6].
func FuzzFixedFit(f *testing.F) {
	f.Add(int64(28), int32(-2), int64(28), int32(-2))
	f.Add(int64(1000000000001), int32(-13), int64(1), int32(-1))
	f.Add(int64(1000000000001), int32(-13), int64(100000000001), int32(-12))
	f.Add(int64(-5), int32(-20), int64(0), int32(0))
	f.Add(int64(9_223_372_036_854_775_807), int32(-30), int64(1), int32(6))
	f.Add(int64(4), int32(6), int64(1), int32(6))
	f.Fuzz(func(t *testing.T, priceCoef int64, priceExp int32, capCoef int64, capExp int32) {
		priceExp %= 40
		capExp %= 40
		price := decimal.New(priceCoef, priceExp)
		limit := decimal.New(capCoef, capExp)
		// Also a long coefficient with the same value, to reach the big paths.
		longPrice := decimal.NewFromBigInt(new(big.Int).Mul(big.NewInt(priceCoef), new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil)), priceExp-20)

		onGrid := capCoef % (FixedMaxCap + 1)
		if onGrid < 0 {
			onGrid = -onGrid
		}
		for _, limit := range []decimal.Decimal{limit, decimal.New(onGrid, -fixedScale)} {
			checkFixedFit(t, []decimal.Decimal{price, longPrice}, limit)
		}
	})
}

func checkFixedFit(t *testing.T, prices []decimal.Decimal, limit decimal.Decimal) {
	t.Helper()
	fixedCap, ok := ToFixed(limit)
	scaled := limit.Shift(fixedScale)
	wantOK := limit.Sign() >= 0 && scaled.IsInteger() && !limit.GreaterThan(decimal.New(1_000_000, 0))
	if ok != wantOK {
		t.Fatalf("ToFixed(%s) ok = %v, want %v", limit, ok, wantOK)
	}
	if !ok {
		return
	}
	if !decimal.New(fixedCap, -fixedScale).Equal(limit) {
		t.Fatalf("ToFixed(%s) = %d", limit, fixedCap)
	}
	for _, p := range prices {
		lo, hi, exact := fixedBounds(p)
		if got, want := hi <= fixedCap, p.LessThanOrEqual(limit); got != want {
			t.Fatalf("price %s ≤ cap %s: fixed %v (ceil %d), exact %v", p, limit, got, hi, want)
		}
		if got, want := lo >= fixedCap, p.GreaterThanOrEqual(limit); got != want {
			t.Fatalf("price %s ≥ floor %s: fixed %v (floor %d), exact %v", p, limit, got, lo, want)
		}
		if exact && !decimal.New(lo, -fixedScale).Equal(p) {
			t.Fatalf("fixedBounds(%s) claims exact %d", p, lo)
		}
		if lo > hi || hi-lo > 1 {
			t.Fatalf("fixedBounds(%s) = %d, %d", p, lo, hi)
		}
	}
}
