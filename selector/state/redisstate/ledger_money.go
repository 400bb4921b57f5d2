package redisstate

import (
	"fmt"
	"math/big"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector/state"
)

// The shared ledger keeps money in units of 1e-18 USD, as two integers so
// that Lua, whose numbers are doubles, adds and compares them exactly:
//
//	hi = whole micro-USD (1e-6), lo = the rest in 1e-18 USD, 0 ≤ lo < 1e12
//
// Costs are tokens × a price per million tokens with several decimals, so
// micro-USD alone would round real costs away. Amounts are limited to
// maxHi micro-USD (a billion USD), so sums of a few of them stay far below
// 2^53.
const (
	unitExp = 18           // decimal places the shared ledger keeps
	loSpan  = 1e12         // 1e-18 units per micro-USD
	maxHi   = int64(1e15)  // micro-USD in a billion USD
	hiExp   = unitExp - 12 // decimal places of hi
)

// money is an amount of 1e-18 USD units split as described above.
type money struct{ hi, lo int64 }

var bigLoSpan = big.NewInt(loSpan)

// splitUp converts a cost or reservation for the ledger, rounding up to
// the 1e-18 grid: the shared ledger keeps 18 decimal places, and a
// rounded amount may only ever hold more than the request could cost. It
// fails with state.ErrBadAmount below zero or above a billion USD.
func splitUp(d decimal.Decimal) (money, error) {
	if d.IsNegative() {
		return money{}, fmt.Errorf("%w: %s is negative", state.ErrBadAmount, d)
	}
	m, ok := split(d.Shift(unitExp).Ceil())
	if !ok {
		return money{}, fmt.Errorf("%w: %s is above a billion USD", state.ErrBadAmount, d)
	}
	return m, nil
}

// splitCredit converts a credit for the ledger, rounding down to the 1e-18
// grid so that rounding never lets requests spend beyond it. A credit
// beyond a billion USD counts as a billion, one below minus a billion as
// minus a billion: either way far beyond any request.
func splitCredit(d decimal.Decimal) money {
	m, ok := split(d.Shift(unitExp).Floor())
	switch {
	case ok:
		return m
	case d.IsNegative():
		return money{hi: -maxHi}
	default:
		return money{hi: maxHi}
	}
}

// split divides an integer number of units into hi and lo (lo ≥ 0, so hi
// rounds toward minus infinity); ok is false when |hi| > maxHi.
func split(units decimal.Decimal) (money, bool) {
	hi, lo := new(big.Int).DivMod(units.BigInt(), bigLoSpan, new(big.Int))
	if !hi.IsInt64() || hi.Int64() > maxHi || hi.Int64() < -maxHi {
		return money{}, false
	}
	return money{hi: hi.Int64(), lo: lo.Int64()}, true
}

// decimal is the exact value of m.
func (m money) decimal() decimal.Decimal {
	return decimal.New(m.hi, -hiExp).Add(decimal.New(m.lo, -unitExp))
}
