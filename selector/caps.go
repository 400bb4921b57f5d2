package selector

import "github.com/shopspring/decimal"

// caps are a request's bounds in fixed-point form, converted once per
// request, with the decimals kept for reason texts.
type caps struct {
	maxIn, maxOut, maxTot, minTot int64
	maxInD, maxOutD               decimal.Decimal
	maxTotD, minTotD              decimal.Decimal
}

// init applies the tier band to unset total bounds. It fails on a bound
// ToFixed rejects.
func (c *caps) init(t *Tier, req *Request) bool {
	ok := true
	c.maxIn, c.maxInD = optionalCap(req.MaxInput, &ok)
	c.maxOut, c.maxOutD = optionalCap(req.MaxOutput, &ok)
	c.maxTot, c.maxTotD = t.maxFixed, t.MaxTotal
	if req.MaxTotal.Set {
		c.maxTot, c.maxTotD = bound(req.MaxTotal, &ok)
	}
	c.minTot, c.minTotD = t.minFixed, t.MinTotal
	if req.MinTotal.Set {
		c.minTot, c.minTotD = bound(req.MinTotal, &ok)
	}
	return ok
}

func optionalCap(b Bound, ok *bool) (int64, decimal.Decimal) {
	if !b.Set {
		return noCap, decimal.Decimal{}
	}
	return bound(b, ok)
}

func bound(b Bound, ok *bool) (int64, decimal.Decimal) {
	v, good := ToFixed(b.Value)
	if !good {
		*ok = false
	}
	return v, b.Value
}

// fitsInOut checks the per-direction caps; the total bounds are applied by
// Tier.totalRange.
func (c *caps) fitsInOut(f *fixedRoute) bool {
	return f.inCeil <= c.maxIn && f.outCeil <= c.maxOut
}

// miss returns the first bound a route fails, or boundNone when it fits.
func (c *caps) miss(f *fixedRoute) boundKind {
	switch {
	case f.totCeil > c.maxTot:
		return boundTotal
	case f.inCeil > c.maxIn:
		return boundInput
	case f.outCeil > c.maxOut:
		return boundOutput
	case f.totFloor < c.minTot:
		return boundFloor
	}
	return boundNone
}

// value is the decimal of one bound.
func (c *caps) value(k boundKind) decimal.Decimal {
	switch k {
	case boundTotal:
		return c.maxTotD
	case boundInput:
		return c.maxInD
	case boundOutput:
		return c.maxOutD
	case boundFloor:
		return c.minTotD
	}
	return decimal.Decimal{}
}
