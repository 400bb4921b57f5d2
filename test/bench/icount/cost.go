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
	// Misses are counted only with the cache simulation.
	Misses Misses `json:"misses,omitzero"`
}

// Cost is the difference between a long and a short run of the same
// exchanges. The server's start-up, each run's connection set-up and
// tear-down, and the idle time around a run are in both dumps alike, so
// they cancel; what remains is Instructions for Exchanges exchanges.
type Cost struct {
	Instructions uint64 `json:"delta_ir"`
	Exchanges    int64  `json:"delta_exchanges"`
	Misses       Misses `json:"delta_misses,omitzero"`
}

// PerExchangeCost is the cost of the exchanges long has beyond short.
func PerExchangeCost(short, long Sample) (Cost, error) {
	if long.Exchanges <= short.Exchanges {
		return Cost{}, fmt.Errorf("%w: %d then %d", ErrNotLonger, short.Exchanges, long.Exchanges)
	}
	if long.Ir < short.Ir {
		return Cost{}, fmt.Errorf("%w: %d then %d", ErrFewerInstructions, short.Ir, long.Ir)
	}
	m, err := long.Misses.sub(short.Misses)
	if err != nil {
		return Cost{}, err
	}
	return Cost{Instructions: long.Ir - short.Ir, Exchanges: long.Exchanges - short.Exchanges, Misses: m}, nil
}

// PerExchange is the instructions per exchange, rounded to the nearest
// whole instruction (halves up).
func (c Cost) PerExchange() uint64 { return perExchange(c.Instructions, c.Exchanges) }

// perExchange is total over exchanges, rounded to the nearest whole
// (halves up); 0 without exchanges.
func perExchange(total uint64, exchanges int64) uint64 {
	if exchanges <= 0 {
		return 0
	}
	n := uint64(exchanges)
	q, r := total/n, total%n
	if r >= n-r {
		q++
	}
	return q
}

// Ratio is the sidecar's instructions per exchange over the floor's, from
// the exact quotients, with two decimals (halves away from zero).
func Ratio(sidecar, floor Cost) (string, error) {
	return ratio(sidecar.Instructions, sidecar.Exchanges, floor.Instructions, floor.Exchanges)
}

// ratio is (s / sn) / (f / fn) with two decimals, from exact quotients.
func ratio(s uint64, sn int64, f uint64, fn int64) (string, error) {
	if f == 0 || fn <= 0 {
		return "", ErrZeroFloor
	}
	if sn <= 0 {
		return "", fmt.Errorf("%w: sidecar counted %d exchanges", ErrNotLonger, sn)
	}
	q := func(v uint64, n int64) *big.Rat {
		return new(big.Rat).SetFrac(new(big.Int).SetUint64(v), big.NewInt(n))
	}
	return new(big.Rat).Quo(q(s, sn), q(f, fn)).FloatString(2), nil
}
