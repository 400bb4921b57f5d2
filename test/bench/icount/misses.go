package icount

import (
	"errors"
	"fmt"
)

// ErrFewerMisses is a long run that counted fewer cache misses than the
// short one, as ErrFewerInstructions for instructions.
var ErrFewerMisses = errors.New("the long run counted fewer cache misses than the short run")

// The simulated caches are those of one core of the 2-core machine the
// budgets were set on: 32 KiB 8-way L1 instruction and data caches and a
// 512 KiB 8-way L2, 64-byte lines. Callgrind simulates two levels, so its
// last level stands for the L2: at a few hundred KiB per exchange the
// shared L3 holds everything and would show no misses. Fixed sizes, not
// the host's, keep the counts comparable between machines.
const (
	l1Geometry = "32768,8,64"
	llGeometry = "524288,8,64"
)

// cacheSimArgs are callgrind's flags for the cache simulation.
func cacheSimArgs() []string {
	return []string{"--cache-sim=yes", "--I1=" + l1Geometry, "--D1=" + l1Geometry, "--LL=" + llGeometry}
}

// Misses are a run's simulated cache misses: L1 instruction (I1mr), L1
// data (D1mr + D1mw) and last level (ILmr + DLmr + DLmw).
//
// Instructions alone miss what makes an exchange dear when many are in
// flight: each exchange's code and state are evicted by the others' and by
// the transport's between two of its messages, so the code an exchange
// runs and the memory it touches cost misses in proportion to their size,
// not to the instructions executed.
type Misses struct {
	L1i uint64 `json:"l1i"`
	L1d uint64 `json:"l1d"`
	LL  uint64 `json:"ll"`
}

// missEvents are the events a dump must count for its misses to be read.
var missEvents = [...]string{"I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw"}

// ParseMisses returns the cache misses a complete callgrind dump counts,
// and false when the dump has no cache simulation.
func ParseMisses(dump []byte) (Misses, bool, error) {
	t, err := parseTotals(dump)
	if err != nil {
		return Misses{}, false, err
	}
	var c [len(missEvents)]uint64
	for i, ev := range missEvents {
		v, ok := t.count(ev)
		if !ok {
			return Misses{}, false, nil
		}
		c[i] = v
	}
	return Misses{L1i: c[0], L1d: c[1] + c[2], LL: c[3] + c[4] + c[5]}, true, nil
}

// sub is m minus short, per kind of miss.
func (m Misses) sub(short Misses) (Misses, error) {
	if m.L1i < short.L1i || m.L1d < short.L1d || m.LL < short.LL {
		return Misses{}, fmt.Errorf("%w: %+v then %+v", ErrFewerMisses, short, m)
	}
	return Misses{L1i: m.L1i - short.L1i, L1d: m.L1d - short.L1d, LL: m.LL - short.LL}, nil
}

// per is m per exchange, each rounded to the nearest whole miss.
func (m Misses) per(exchanges int64) Misses {
	return Misses{L1i: perExchange(m.L1i, exchanges), L1d: perExchange(m.L1d, exchanges), LL: perExchange(m.LL, exchanges)}
}

// missRatios are the sidecar's misses per exchange over the floor's, two
// decimals each; "-" where the floor has none.
type missRatios struct {
	L1i string `json:"l1i"`
	L1d string `json:"l1d"`
	LL  string `json:"ll"`
}

func ratiosOf(sidecar, floor Cost) missRatios {
	one := func(s, f uint64) string {
		r, err := ratio(s, sidecar.Exchanges, f, floor.Exchanges)
		if err != nil {
			return "-"
		}
		return r
	}
	s, f := sidecar.Misses, floor.Misses
	return missRatios{L1i: one(s.L1i, f.L1i), L1d: one(s.L1d, f.L1d), LL: one(s.LL, f.LL)}
}
