package selector

import (
	"math"

	"github.com/shopspring/decimal"
)

// Fixed-point form of prices: an int64 count of 1e-12 USD per 1M tokens.
const (
	fixedScale = 12
	// FixedOne is 1 USD per 1M tokens in fixed-point form.
	FixedOne int64 = 1_000_000_000_000
	// FixedMaxCap is the largest cap ToFixed accepts: 1,000,000 USD.
	FixedMaxCap int64 = 1_000_000 * FixedOne
	// fixedSat is where route prices saturate: above every cap, and small
	// enough that the sum or difference of two saturated values fits int64.
	fixedSat int64 = 4 * FixedMaxCap
	// maxInt64Digits is the digit count below which a coefficient surely
	// fits an int64.
	maxInt64Digits = 18
)

// pow10 returns 10^n for 0 ≤ n ≤ 18.
func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// ToFixed converts a cap to fixed-point form (1e-12 units). It rejects a
// negative value, a value above 1,000,000 and a value with more than 12
// fractional digits once trailing zeros are dropped. It does not allocate
// for decimals whose coefficient has at most 18 digits.
func ToFixed(d decimal.Decimal) (int64, bool) {
	switch d.Sign() {
	case 0:
		return 0, true
	case -1:
		return 0, false
	}
	if d.NumDigits() <= maxInt64Digits {
		return coefToFixed(d.CoefficientInt64(), int(d.Exponent()))
	}
	return toFixedBig(d)
}

// coefToFixed converts c·10^e, with 0 < c < 10^18, to fixed-point form.
func coefToFixed(c int64, e int) (int64, bool) {
	if e >= -fixedScale {
		s := e + fixedScale
		if s > maxInt64Digits {
			return 0, false // at least 1e19 units
		}
		p := pow10(s)
		if c > FixedMaxCap/p {
			return 0, false
		}
		return c * p, true
	}
	s := -e - fixedScale
	if s > maxInt64Digits {
		return 0, false // c < 10^18 cannot end in s zeros
	}
	p := pow10(s)
	if c%p != 0 {
		return 0, false
	}
	return c / p, true // c/p < 10^17 ≤ FixedMaxCap
}

// toFixedBig is ToFixed for coefficients of 19 digits or more (rare: such
// caps have trailing zeros or are out of range). It allocates.
func toFixedBig(d decimal.Decimal) (int64, bool) {
	n := d.Normalize()
	if n.Exponent() < -fixedScale || n.Exponent() > 6 {
		return 0, false
	}
	if n.GreaterThan(decimal.New(FixedMaxCap/FixedOne, 0)) {
		return 0, false
	}
	return n.Shift(fixedScale).IntPart(), true
}

// fixedBounds returns floor(d·1e12) and ceil(d·1e12), saturated to
// ±fixedSat, and whether d is exactly lo (on the 1e-12 grid, not
// saturated). It does not allocate for coefficients of at most 18 digits.
func fixedBounds(d decimal.Decimal) (lo, hi int64, exact bool) {
	if d.Sign() == 0 {
		return 0, 0, true
	}
	if d.NumDigits() <= maxInt64Digits {
		return coefBounds(d.CoefficientInt64(), int(d.Exponent()))
	}
	return bigBounds(d)
}

func saturated(sign int) (lo, hi int64, exact bool) {
	if sign < 0 {
		return -fixedSat, -fixedSat, false
	}
	return fixedSat, fixedSat, false
}

// coefBounds is fixedBounds for c·10^e with 0 < |c| < 10^18.
func coefBounds(c int64, e int) (lo, hi int64, exact bool) {
	sign := 1
	if c < 0 {
		sign = -1
	}
	if e >= -fixedScale {
		s := e + fixedScale
		if s > maxInt64Digits {
			return saturated(sign)
		}
		p := pow10(s)
		if c > fixedSat/p || c < -fixedSat/p {
			return saturated(sign)
		}
		return c * p, c * p, true
	}
	s := -e - fixedScale
	if s > maxInt64Digits {
		// |d| < 1e-12: between the grid points around zero.
		if sign > 0 {
			return 0, 1, false
		}
		return -1, 0, false
	}
	p := pow10(s)
	q, r := c/p, c%p
	switch {
	case r == 0:
		return q, q, true
	case r > 0:
		return q, q + 1, false
	default:
		return q - 1, q, false
	}
}

// bigBounds is fixedBounds for long coefficients. It allocates.
func bigBounds(d decimal.Decimal) (lo, hi int64, exact bool) {
	n := d.Normalize()
	// |n| ≥ 10^exp when exp ≥ 0; 10^7 USD is far above saturation.
	if n.Exponent() > 7 {
		return saturated(n.Sign())
	}
	// |n| < 10^(digits+exp); below 1e-13 it sits between the grid points
	// around zero (this also bounds the cost of Floor and Ceil).
	if int64(n.NumDigits())+int64(n.Exponent()) < -fixedScale-1 {
		if n.Sign() > 0 {
			return 0, 1, false
		}
		return -1, 0, false
	}
	limit := decimal.New(fixedSat/FixedOne, 0)
	if n.GreaterThan(limit) {
		return saturated(1)
	}
	if n.LessThan(limit.Neg()) {
		return saturated(-1)
	}
	x := n.Shift(fixedScale)
	f, c := x.Floor(), x.Ceil()
	return f.IntPart(), c.IntPart(), f.Equal(c)
}

// noCap is the fixed-point form of an unset maximum.
const noCap int64 = math.MaxInt64
