package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/cpen/router/extproc/credit"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// creditState is what a request carries for its cost: its worst case, its
// reservation when its key has credit, and the usage its answer reported.
type creditState struct {
	bound    credit.Bound
	res      state.Reservation // Reserved only for a key with credit
	renewed  time.Time         // when res was taken or last renewed
	usage    credit.Usage
	hasUsage bool
	// The cost, fixed once printed or settled: amount when fixed (the
	// route's prices are on the fixed-point grid), else cost.
	amount  selector.Amount
	fixed   bool
	cost    decimal.Decimal
	costSet bool
	// providerStatus is the provider's answer status, 0 before it; the
	// sidecar may answer the client another (an extraction's 422).
	providerStatus int
}

// settleTimeout bounds the ledger call that settles a request: it runs as
// the stream ends, often because the client left, so not on the stream's
// context.
const settleTimeout = 2 * time.Second

// errLedger is a ledger that could not be reached for a key with credit.
var errLedger = errors.New("credit ledger unavailable")

// errSharedState is a rate limiter that could not reach its shared state
// and fails closed: nothing was decided.
var errSharedState = errors.New("shared state unavailable")

// insufficientCreditError carries both figures of the 402 detail.
type insufficientCreditError struct {
	remaining, reservation decimal.Decimal
}

func (e *insufficientCreditError) Error() string {
	return fmt.Sprintf("Insufficient credit: %s USD remaining, this request may cost up to %s USD",
		selector.FormatPrice(e.remaining), selector.FormatPrice(e.reservation))
}

func (c *chat) reserveSettings() credit.Settings {
	return credit.Settings{OutputTokens: c.v.Catalog.ReserveOutputTokens, TokensPerMediaPart: c.v.Catalog.ReserveTokensPerMediaPart}
}

// admit takes the request's RPM slot and, for a key with credit, the
// reservation of its worst case on the chosen route in the same step. A
// credit refusal comes after the RPM one and takes no slot.
func (c *chat) admit(now time.Time) error {
	x := c.x
	if !c.key.Limited || c.guest {
		c.adm = c.cfg.Limiter.Admit(x.Context(), c.key.ID, c.rpmLimit, now)
		switch {
		case c.adm.Unavailable:
			return errSharedState
		case !c.adm.Allowed:
			return c.rateLimited(c.adm)
		}
		return nil
	}
	amount := selector.Cost(c.decision.Route, c.credit.bound.Prompt, c.credit.bound.Output)
	adm, res, err := c.cfg.Ledger.AdmitReserve(x.Context(), c.key.ID, c.rpmLimit,
		state.Hold{Account: c.key.Account, Credit: c.key.CreditUSD, Amount: amount}, now)
	if err != nil {
		return fmt.Errorf("%w: %w", errLedger, err)
	}
	c.adm = adm
	if !adm.Allowed {
		return c.rateLimited(adm)
	}
	if !res.Reserved {
		c.cfg.Metrics.CreditRefused()
		return &insufficientCreditError{remaining: res.Remaining, reservation: amount}
	}
	c.credit.res, c.credit.renewed = res, now
	c.cfg.Metrics.Reservations(1)
	return nil
}

// noteUsage keeps the usage of a provider's answer or usage chunk.
func (c *chat) noteUsage(obj []byte) {
	if u, ok := credit.ParseUsage(obj); ok {
		c.credit.usage, c.credit.hasUsage = u, true
	}
}

// fixCost fixes what the request costs: 0 for a provider error, the usage
// at the route's visible prices, or the worst case when no usage came (the
// provider may bill for an answer the client never saw whole). The first
// answer that prints it fixes it: the receipt and the debit are then the
// same figure, whatever happens to the stream after. Prices on the
// fixed-point grid (every usual catalog) cost no allocation.
func (c *chat) fixCost() {
	cs := &c.credit
	if cs.costSet {
		return
	}
	cs.costSet = true
	prompt, completion := cs.bound.Prompt, cs.bound.Output
	switch {
	case cs.providerStatus >= 400:
		prompt, completion = 0, 0
	case cs.hasUsage:
		prompt, completion = cs.usage.Prompt, cs.usage.Completion
	}
	route := c.decision.Route
	if cs.amount, cs.fixed = route.FixedCost(prompt, completion); !cs.fixed {
		cs.cost = selector.Cost(route, prompt, completion)
	}
}

// costDecimal is the request's cost as a decimal (it allocates: for the
// ledger and cold paths).
func (c *chat) costDecimal() decimal.Decimal {
	c.fixCost()
	if c.credit.fixed {
		return c.credit.amount.Decimal()
	}
	return c.credit.cost
}

// appendCost appends the cost as a JSON string, without trailing zeros.
func (c *chat) appendCost(dst []byte) []byte {
	c.fixCost()
	dst = append(dst, '"')
	if c.credit.fixed {
		dst = c.credit.amount.AppendTo(dst)
	} else {
		dst = append(dst, selector.FormatPrice(c.credit.cost)...)
	}
	return append(dst, '"')
}

// costFloat is the cost for metrics.
func (c *chat) costFloat() float64 {
	c.fixCost()
	if c.credit.fixed {
		return c.credit.amount.Float64()
	}
	return c.credit.cost.InexactFloat64()
}

// renew keeps a running stream's reservation from expiring: called per
// response chunk, it calls the ledger once a third of the TTL has passed.
func (c *chat) renew(now time.Time) {
	if !c.credit.res.Reserved || now.Sub(c.credit.renewed) < c.cfg.ReservationTTL/3 {
		return
	}
	c.credit.renewed = now
	if err := c.cfg.Ledger.Renew(c.x.Context(), c.credit.res, now); err != nil {
		c.x.Log().Warn("credit reservation not renewed", zap.ByteString("request_id", c.x.RequestID()),
			zap.String("account", c.key.Account), zap.Error(err))
	}
}

// settleCredit debits the request's cost, releasing its reservation, once
// the exchange has ended; and counts the spend of every routed request.
func (c *chat) settleCredit(now time.Time) {
	if (c.credit.providerStatus > 0 && c.credit.providerStatus < 400) || c.credit.res.Reserved {
		c.cfg.Metrics.Spent(c.decision.Tier.Alias, c.costFloat())
	}
	if !c.credit.res.Reserved {
		return
	}
	cost := c.costDecimal()
	c.cfg.Metrics.Reservations(-1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.x.Context()), settleTimeout)
	defer cancel()
	if err := c.cfg.Ledger.Settle(ctx, c.credit.res, cost, now); err != nil {
		// The reservation stays open and is debited in full when it
		// expires: the account pays the worst case, never less.
		c.x.Log().Error("credit not settled; the reservation will be debited in full when it expires",
			zap.ByteString("request_id", c.x.RequestID()), zap.String("account", c.key.Account),
			zap.String("reservation", c.credit.res.Amount.String()), zap.String("cost", cost.String()), zap.Error(err))
	}
}
