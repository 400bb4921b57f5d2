package selector

import (
	"math/bits"
	"strconv"

	"github.com/shopspring/decimal"
)

// perTokenShift turns a price per 1M tokens into one per token.
const perTokenShift = -6

// Cost is what tokens cost on route r at its visible prices (the fee
// included): prompt × visible input / 1e6 + completion × visible output /
// 1e6, exact and never rounded. It prices a provider's usage, and the
// worst case of a request when given its token bounds.
func Cost(r *Route, prompt, completion int64) decimal.Decimal {
	if a, ok := r.FixedCost(prompt, completion); ok {
		return a.Decimal()
	}
	in := r.VisibleInput.Mul(decimal.NewFromInt(prompt))
	out := r.VisibleOutput.Mul(decimal.NewFromInt(completion))
	return in.Add(out).Shift(perTokenShift)
}

// Amount is a non-negative amount of USD in units of 1e-18: a token count
// times a fixed-point price per 1M tokens (1e-12 USD units) is a count of
// 1e-18 USD. 128 bits hold every product of an int64 count and a price.
type Amount struct{ hi, lo uint64 }

// amountScale is the number of decimal places of an Amount.
const amountScale = 18

// pow18 is 10^18.
const pow18 = 1_000_000_000_000_000_000

// FixedCost is Cost without allocation, for routes whose visible prices
// are on the 1e-12 grid (every route of a catalog with up to 12 decimal
// places after currency and fee); ok is false for another route, or
// negative counts, and Cost then computes it with decimals.
func (r *Route) FixedCost(prompt, completion int64) (Amount, bool) {
	if !r.costExact || prompt < 0 || completion < 0 {
		return Amount{}, false
	}
	h1, l1 := bits.Mul64(uint64(prompt), uint64(r.inFixed))
	h2, l2 := bits.Mul64(uint64(completion), uint64(r.outFixed))
	lo, carry := bits.Add64(l1, l2, 0)
	hi, over := bits.Add64(h1, h2, carry)
	if over != 0 || hi >= pow18 {
		// Beyond what AppendTo can divide: far beyond any real cost.
		return Amount{}, false
	}
	return Amount{hi: hi, lo: lo}, true
}

// IsZero reports whether a is 0.
func (a Amount) IsZero() bool { return a.hi == 0 && a.lo == 0 }

// AppendTo appends a in decimal, without trailing zeros or exponent, as
// FormatPrice prints the same value.
func (a Amount) AppendTo(dst []byte) []byte {
	whole, frac := bits.Div64(a.hi, a.lo, pow18)
	dst = strconv.AppendUint(dst, whole, 10)
	if frac == 0 {
		return dst
	}
	var digits [amountScale]byte
	for i := amountScale - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := amountScale
	for digits[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, digits[:n]...)
}

// Decimal is a as an exact decimal.
func (a Amount) Decimal() decimal.Decimal {
	whole, frac := bits.Div64(a.hi, a.lo, pow18)
	w := decimal.NewFromUint64(whole)
	if frac == 0 {
		return w
	}
	return w.Add(decimal.New(int64(frac), -amountScale))
}

// Float64 is a as a float, for metrics only.
func (a Amount) Float64() float64 {
	return (float64(a.hi)*(1<<64) + float64(a.lo)) / pow18
}

// setFixedCost prepares FixedCost: the visible prices in fixed-point
// form, when both are exactly on its grid.
func (r *Route) setFixedCost() {
	in, _, inExact := fixedBounds(r.VisibleInput)
	out, _, outExact := fixedBounds(r.VisibleOutput)
	r.inFixed, r.outFixed = in, out
	r.costExact = inExact && outExact && in >= 0 && out >= 0
}
