package selector

import "github.com/shopspring/decimal"

// selectContinuity keeps the pinned route while it fits and is available,
// escalates above the cap when the request allows it, and otherwise moves to
// the fitting route closest to the pin (same model family, then the
// nearest visible total).
func (ix *Index) selectContinuity(t *Tier, c *caps, lo, hi int, req *Request, h Health, out *Decision) bool {
	pin := req.Pin
	if pin == nil || pin.RouteID == "" {
		return t.newPin(c, lo, hi, h, req.Spread, out)
	}
	pr, inCatalog := ix.byID[pin.RouteID]
	if inCatalog && pr.tier != t {
		out.foreignPin = pin.RouteID
		return t.newPin(c, lo, hi, h, req.Spread, out)
	}
	out.left, out.why = pin.RouteID, leaveGone
	if inCatalog {
		f := &t.fx[pr.pos]
		rh := routeHealth(h, f.health)
		miss := c.miss(f)
		switch {
		case !f.live:
			out.why = leavePaused
		case rh.Down:
			out.why = leaveDown
		case miss != boundNone:
			out.why, out.bound, out.capValue = leavePrice, miss, c.value(miss)
		case rh.AtCapacity:
			out.why = leaveCapacity
		default:
			out.Route, out.ReasonCode = pr, ReasonContinuityPinned
			return true
		}
		out.leftRoute = pr
		// Consent covers a higher price only: not a route under the quality
		// floor, and not one whose provider is at its RPM limit.
		if out.why == leavePrice && out.EscalationAllowed && !rh.AtCapacity &&
			miss != boundFloor && f.totFloor >= c.minTot {
			out.Route, out.ReasonCode, out.Escalated = pr, ReasonContinuityEscalated, true
			return true
		}
	}
	family := pin.ModelFamily
	if family == "" && inCatalog {
		family = pr.ModelFamily
	}
	fam, useFam := ix.families[family]
	var p pinTarget
	p.total = pin.VisibleTotal
	p.lo, p.hi, p.exact = fixedBounds(pin.VisibleTotal)
	i := t.closest(c, lo, hi, h, &p, fam, useFam)
	if i < 0 {
		return false
	}
	out.Route, out.ReasonCode = t.routes[i], ReasonContinuityRepinned
	return true
}

// newPin chooses as balanced and pins the result.
func (t *Tier) newPin(c *caps, lo, hi int, h Health, spread uint64, out *Decision) bool {
	if !t.selectBalanced(c, lo, hi, h, spread, out) {
		return false
	}
	out.ReasonCode = ReasonContinuityNewPin
	return true
}

// pinTarget is the pin's visible total, exact and in fixed-point form.
type pinTarget struct {
	total  decimal.Decimal
	lo, hi int64 // floor and ceil in 1e-12 units
	exact  bool
}

// closest returns the fitting available route in [lo, hi) closest to the pin:
// same model family first, then the visible total nearest the pin's, then
// the lower visible total, then the lower route id; -1 if none fits.
func (t *Tier) closest(c *caps, lo, hi int, h Health, p *pinTarget, fam int32, useFam bool) int {
	pos := t.pinPosition(lo, hi, p)
	if useFam {
		if i := t.nearest(c, lo, hi, pos, h, p, fam, true); i >= 0 {
			return i
		}
	}
	return t.nearest(c, lo, hi, pos, h, p, 0, false)
}

// nearest searches outward from pos, the first route at or above the pin's
// total: below it the candidate with the highest total (lowest id among
// equal totals), from pos up the first candidate; then the closer of the two.
func (t *Tier) nearest(c *caps, lo, hi, pos int, h Health, p *pinTarget, fam int32, useFam bool) int {
	below := -1
	for i := pos - 1; i >= lo; i-- {
		if below >= 0 && t.fx[i].rank != t.fx[below].rank {
			break
		}
		if t.candidate(i, c, h, fam, useFam) {
			below = i
		}
	}
	above := -1
	for i := pos; i < hi; i++ {
		if t.candidate(i, c, h, fam, useFam) {
			above = i
			break
		}
	}
	switch {
	case below < 0:
		return above
	case above < 0:
		return below
	case t.belowCloser(below, above, p):
		return below
	}
	return above
}

func (t *Tier) candidate(i int, c *caps, h Health, fam int32, useFam bool) bool {
	if useFam && t.fx[i].family != fam {
		return false
	}
	_, ok := t.usable(i, c, h)
	return ok
}

// pinPosition is the first index in [lo, hi) whose visible total is at or
// above the pin's (hi if none).
func (t *Tier) pinPosition(lo, hi int, p *pinTarget) int {
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.atOrAbove(m, p) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// atOrAbove reports visible_total(i) ≥ pin total, from the fixed-point
// bounds when they decide it and from the exact decimals otherwise (only
// for prices off the 1e-12 grid; that path may allocate).
func (t *Tier) atOrAbove(i int, p *pinTarget) bool {
	f := &t.fx[i]
	switch {
	case f.totFloor >= p.hi: // v ≥ floor ≥ ceil(P) ≥ P
		return true
	case f.totCeil < p.lo: // v ≤ ceil < floor(P) ≤ P
		return false
	case f.totCeil <= p.lo && !(f.exact && p.exact):
		// v ≤ ceil ≤ floor(P) ≤ P with one step strict. (When both are on
		// the grid the two cases above decide.)
		return false
	}
	return t.routes[i].VisibleTotal.Cmp(p.total) >= 0
}

// belowCloser reports whether route b (total below the pin's) is at least as
// close to the pin as route a (total at or above it): P − b ≤ a − P, that is
// 2P ≤ a + b. Ties go to b, the lower visible total.
func (t *Tier) belowCloser(b, a int, p *pinTarget) bool {
	fb, fa := &t.fx[b], &t.fx[a]
	switch {
	case 2*p.hi <= fb.totFloor+fa.totFloor:
		return true
	case 2*p.lo > fb.totCeil+fa.totCeil:
		return false
	}
	below := p.total.Sub(t.routes[b].VisibleTotal)
	above := t.routes[a].VisibleTotal.Sub(p.total)
	return below.Cmp(above) <= 0
}
