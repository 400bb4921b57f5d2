package icount

import (
	"errors"
	"fmt"
	"math/big"
)

// ErrNotLonger is a long run with no more exchanges than the short one,
// which leaves nothing to divide by.
var ErrNotLonger = errors.New("the long run has no more exchanges than the short run")

// ErrFewerInstructions is a long run that counted fewer instructions than
// the short one: the difference would be negative, so the runs did not do
// the same work per exchange (or the dumps are swapped).
var ErrFewerInstructions = errors.New("the long run counted fewer instructions than the short run")

// ErrZeroFloor is a floor that costs no instructions per exchange, so no
// ratio can be formed.
var ErrZeroFloor = errors.New("the floor costs 0 instructions per exchange")

// Sample is one run's dump: the exchanges it completed and the
// instructions the server executed from the previous dump to this one.
type Sample struct {
	Exchanges int64  `json:"exchanges"`
	Ir        uint64 `json:"ir"`
}

// Cost is the difference between a long and a short run of the same
// exchanges. The server's start-up, each run's connection set-up and
// tear-down, and the idle time around a run are in both dumps alike, so
// they cancel; what remains is Instructions for Exchanges exchanges.
type Cost struct {
	Instructions uint64 `json:"delta_ir"`
	Exchanges    int64  `json:"delta_exchanges"`
}

// PerExchangeCost is the cost of the exchanges long has beyond short.
func PerExchangeCost(short, long Sample) (Cost, error) {
	if long.Exchanges <= short.Exchanges {
		return Cost{}, fmt.Errorf("%w: %d then %d", ErrNotLonger, short.Exchanges, long.Exchanges)
	}
	if long.Ir < short.Ir {
		return Cost{}, fmt.Errorf("%w: %d then %d", ErrFewerInstructions, short.Ir, long.Ir)
	}
	return Cost{Instructions: long.Ir - short.Ir, Exchanges: long.Exchanges - short.Exchanges}, nil
}

// PerExchange is the instructions per exchange, rounded to the nearest
// whole instruction (halves up).
func (c Cost) PerExchange() uint64 {
	if c.Exchanges <= 0 {
		return 0
	}
	n := uint64(c.Exchanges)
	q, r := c.Instructions/n, c.Instructions%n
	if r >= n-r {
		q++
	}
	return q
}

// rat is the exact instructions per exchange.
func (c Cost) rat() *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(c.Instructions), big.NewInt(c.Exchanges))
}

// Ratio is the sidecar's instructions per exchange over the floor's, from
// the exact quotients, with two decimals (halves away from zero).
func Ratio(sidecar, floor Cost) (string, error) {
	if floor.Instructions == 0 || floor.Exchanges <= 0 {
		return "", ErrZeroFloor
	}
	if sidecar.Exchanges <= 0 {
		return "", fmt.Errorf("%w: sidecar counted %d exchanges", ErrNotLonger, sidecar.Exchanges)
	}
	return new(big.Rat).Quo(sidecar.rat(), floor.rat()).FloatString(2), nil
}
