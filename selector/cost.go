package selector

import "github.com/shopspring/decimal"

// perToken turns a price per 1M tokens into one per token.
const perTokenShift = -6

// Cost is what tokens cost on route r at its visible prices (the fee
// included): prompt × visible input / 1e6 + completion × visible output /
// 1e6, exact and never rounded. It prices a provider's usage, and the
// worst case of a request when given its token bounds.
func Cost(r *Route, prompt, completion int64) decimal.Decimal {
	in := r.VisibleInput.Mul(decimal.NewFromInt(prompt))
	out := r.VisibleOutput.Mul(decimal.NewFromInt(completion))
	return in.Add(out).Shift(perTokenShift)
}
