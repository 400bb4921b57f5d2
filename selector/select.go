package selector

import "github.com/cpen/router/config"

// Select chooses a route for req into out. h is the live route
// state; nil means every route is healthy. Errors are *Error values wrapping
// ErrUnknownModel, ErrTierUnavailable, ErrNoRouteUnderCap or
// ErrInvalidRequest. Select does not allocate on success.
func (ix *Index) Select(req *Request, h Health, out *Decision) error {
	*out = Decision{}
	t, ok := ix.byAlias[req.Alias]
	if !ok {
		return &Error{Err: ErrUnknownModel, Alias: req.Alias, Known: ix.Aliases()}
	}
	if req.Strategy > StrategyContinuity || req.Mode > ModeTemporaryEscalation {
		return &Error{Err: ErrInvalidRequest, Alias: req.Alias}
	}
	var c caps
	if !c.init(t, req) {
		return &Error{Err: ErrInvalidRequest, Alias: req.Alias}
	}
	if t.Status != config.TierAvailable {
		return &Error{Err: ErrTierUnavailable, Alias: req.Alias, Status: t.Status}
	}
	lo, hi := t.totalRange(c.minTot, c.maxTot)
	out.Tier = t
	var found bool
	switch req.Strategy {
	case StrategyCheapest:
		found = t.selectCheapest(&c, lo, hi, h, out)
	case StrategyBalanced:
		found = t.selectBalanced(&c, lo, hi, h, req.Spread, out)
		out.ReasonCode = ReasonBalancedFit
	case StrategyContinuity:
		out.EscalationAllowed = req.EscalationAllowed()
		found = ix.selectContinuity(t, &c, lo, hi, req, h, out)
		out.SetsPin = found
	}
	if found {
		return nil
	}
	*out = Decision{}
	if _, live := t.CheapestLive(h); !live {
		return &Error{Err: ErrTierUnavailable, Alias: req.Alias, Status: t.Status}
	}
	return &Error{Err: ErrNoRouteUnderCap, Alias: req.Alias}
}
