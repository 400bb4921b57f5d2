package routing

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// The fast path for plain literals agrees with decimal's parse and the
// general checks on every literal it accepts, and leaves the rest to them.
func TestPlainPriceAgreesWithDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []string{"0", "0.30", "12", "0.000000000001", "0.0000000000001", "1000000", "1000000.0", "1000000.000000000001",
		"999999.999999999999", "0.100000000000000", "123456789012345678", "1234567890123456789", "-1", "1e3", "00.5"}
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(8) {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		if rng.IntN(2) == 0 {
			b.WriteByte('.')
			for range 1 + rng.IntN(15) {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		got, ok := plainPrice([]byte(c))
		if !ok {
			continue
		}
		want, err := decimal.NewFromString(c)
		if err != nil || !got.Equal(want) {
			t.Fatalf("%s: fast %v, decimal %v (%v)", c, got, want, err)
		}
		if !config.PriceInRange(want) || !want.Truncate(config.MaxPriceDecimals).Equal(want) {
			t.Fatalf("%s: the fast path took a price the general checks refuse", c)
		}
	}
	for _, c := range []string{"1000000.000000000001", "0.0000000000001", "1234567890123456789", "-1", "1e3"} {
		if _, ok := plainPrice([]byte(c)); ok {
			t.Errorf("%s: taken by the fast path", c)
		}
	}
}
