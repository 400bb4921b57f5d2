package routing

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

// maxNumberLen bounds a price literal; it also keeps exponents small, so
// that no decimal operation can be made to allocate huge numbers.
const maxNumberLen = 40

// Price parses a price given as a JSON number or a JSON string holding a
// number: exact, in [0, config.MaxPricePer1M], at most
// config.MaxPriceDecimals fractional digits once trailing zeros are dropped.
func Price(v []byte) (decimal.Decimal, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) == 0 || len(v) > maxNumberLen || !isNumber(v) {
		return decimal.Decimal{}, msgError("must be a decimal number (string or number)")
	}
	if d, ok := plainPrice(v); ok {
		return d, nil
	}
	d, err := decimal.NewFromString(string(v))
	if err != nil {
		return decimal.Decimal{}, msgError("must be a decimal number (string or number)")
	}
	if !config.PriceInRange(d) {
		return decimal.Decimal{}, msgError(fmt.Sprintf("must lie in [0, %d]", config.MaxPricePer1M))
	}
	if !d.Truncate(config.MaxPriceDecimals).Equal(d) {
		return decimal.Decimal{}, msgError(fmt.Sprintf("must have at most %d fractional digits", config.MaxPriceDecimals))
	}
	return d, nil
}

// plainPrice reads the usual price literal, digits with an optional
// fraction and no sign or exponent ("0.30", "12"), that lies in range with
// at most MaxPriceDecimals significant fractional digits, without
// decimal's string parsing; anything else reports false for the general
// path to judge. v has passed isNumber.
func plainPrice(v []byte) (decimal.Decimal, bool) {
	var mant int64
	intDigits, frac, fracLen, dot := 0, 0, 0, false
	for _, c := range v {
		switch {
		case c == '.':
			dot = true
			continue
		case c < '0' || c > '9':
			return decimal.Decimal{}, false // a sign or an exponent
		}
		if dot {
			fracLen++
			if c != '0' {
				frac = fracLen // significant fractional digits so far
			}
		} else {
			intDigits++
		}
		if intDigits+fracLen > 18 {
			return decimal.Decimal{}, false // past int64's exact range
		}
		mant = mant*10 + int64(c-'0')
	}
	if frac > config.MaxPriceDecimals {
		return decimal.Decimal{}, false
	}
	// Drop the trailing fractional zeros, as decimal's parse keeps them
	// only as scale.
	for range fracLen - frac {
		mant /= 10
	}
	d := decimal.New(mant, -int32(frac))
	if mant > config.MaxPricePer1M*pow10(frac) {
		return decimal.Decimal{}, false
	}
	return d, true
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

func price(dst *selector.Bound, v []byte) error {
	d, err := Price(v)
	if err != nil {
		return err
	}
	*dst = selector.Bound{Set: true, Value: d}
	return nil
}

// isNumber checks the JSON number grammar: -?int(.frac)?([eE][+-]?digits)?
// with an exponent of at most 4 digits.
func isNumber(v []byte) bool {
	i := 0
	if v[i] == '-' {
		i++
	}
	start := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == start || (v[start] == '0' && i-start > 1) {
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		fs := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == fs {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		es := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == es || i-es > 4 {
			return false
		}
	}
	return i == len(v)
}
