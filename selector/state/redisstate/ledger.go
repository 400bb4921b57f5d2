package redisstate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector/state"
)

// Ledger keeps each account's spend and open credit reservations in Redis,
// shared by every Store on the same Redis and prefix, with the answers of
// state.Ledger. AdmitReserve is one Lua script that runs the RPM check of
// Limiter on the key's window (the same sorted set, members and rules, so
// plain admissions and reserving ones count together), then the credit
// check and the reservation: concurrent requests on any replicas cannot
// reserve past the credit.
//
// Money is kept in units of 1e-18 USD (see money): the shared ledger keeps
// 18 decimal places. Reservations and costs off that grid are rounded up,
// a credit off it down, so rounding never lets spend pass a credit.
//
// Keys of an account, with p the prefix and a the escaped account; the
// braces make a the hash tag, so the four share a cluster slot:
//
//	p + "credit:{" + a + "}"          hash: spent_hi, spent_lo, reserved_hi,
//	                                  reserved_lo (see money)
//	p + "credit:{" + a + "}:open"     sorted set of open reservations, every
//	                                  score 0, members expiry (Unix ns, 19
//	                                  digits) then id: in expiry order
//	p + "credit:{" + a + "}:amounts"  hash: id -> "hi:lo:expiry" of each
//	                                  open reservation
//	p + "credit:{" + a + "}:expired"  hash: id -> "hi:lo" of reservations
//	                                  that expired and were debited in full,
//	                                  for a late Settle; the key expires
//	                                  state.LateSettleWindow (by Redis's
//	                                  clock) after the last expiry it
//	                                  recorded
//
// The first three carry no TTL: spend is kept for good (Redis drops the
// open set and amounts hash only when they empty). AdmitReserve names
// the key's window too, which carries no hash tag: on a Redis Cluster the
// script's keys span slots, so the ledger needs one Redis (a primary with
// replicas or Sentinel is fine).
//
// Expiry follows the callers' clocks, to the nanosecond, as the windows
// do: AdmitReserve debits in full at most sweepMax reservations due at its
// now (bounded work per admission; expiry moves money from reserved to
// spent and leaves the remaining credit as it was), Balance every one.
//
// A failed call is reported to the error hook, as the limiter's are, and
// returned wrapping state.ErrUnavailable; nothing is known about its
// effect. An AdmitReserve that timed out after Redis ran it leaves a
// reservation nobody settles: it expires after the TTL, debited in full.
type Ledger struct{ s *Store }

// sweepMax bounds how many due reservations one AdmitReserve expires.
const sweepMax = 64

// balanceBatch is how many due reservations Balance expires per pass.
const balanceBatch = 256

// AdmitReserve checks key against limit as Limiter.Admit does and, when
// that passes, reserves h.Amount of h.Account's credit, in one atomic
// step (see state.Ledger.AdmitReserve for the three outcomes). The error
// wraps state.ErrBadAmount for an amount below zero or above a billion
// USD, state.ErrUnavailable when Redis failed.
func (l *Ledger) AdmitReserve(parent context.Context, key string, limit int, h state.Hold, now time.Time) (state.Admission, state.Reservation, error) {
	amount, err := splitUp(h.Amount)
	if err != nil {
		return state.Admission{}, state.Reservation{}, err
	}
	credit := splitCredit(h.Credit)
	s := l.s
	limit = min(max(limit, 0), state.MaxLimit) // 0: unlimited, no window
	t := max(now.UnixNano(), 0)                // times before 1970 count as 1970
	seq := strconv.FormatUint(s.seq.Add(1), 36)
	id := s.member[1:] + seq
	keys := s.creditKeys(h.Account)
	keys = append(keys, s.windowKeys(key)...)
	var r admitReply
	err = s.call(parent, "ledger.admit", func(ctx context.Context) error {
		res, err := s.ledger.admit.Run(ctx, s.client, keys,
			limit, "("+pad(max(t-int64(state.Window)+1, 0)), pad(t), s.member+seq, state.Window.Milliseconds(),
			id, pad(t+int64(s.opts.reservationTTL)), amount.hi, amount.lo, credit.hi, credit.lo,
			"("+pad(t+1), sweepMax, state.LateSettleWindow.Milliseconds(), state.ExactTail).Slice()
		if err == nil {
			r, err = parseAdmit(res)
		}
		return err
	})
	if err != nil {
		return state.Admission{}, state.Reservation{}, ledgerFailed("ledger.admit", err)
	}
	adm := admission(r.window, limit, t)
	if !adm.Allowed {
		return adm, state.Reservation{}, nil
	}
	rsv := state.Reservation{Reserved: r.reserved, Account: h.Account, Amount: h.Amount,
		Remaining: h.Credit.Sub(r.spent.decimal()).Sub(r.onReserved.decimal())}
	if r.reserved {
		rsv.ID = id
	}
	return adm, rsv, nil
}

// admission is the Admission of a window reply, as Limiter.check builds
// it; limit 0 is unlimited.
func admission(w windowReply, limit int, t int64) state.Admission {
	switch {
	case limit == 0:
		return state.Admission{Allowed: true}
	case !w.allowed:
		return state.Admission{Limit: limit, Reset: time.Duration(w.oldest + int64(state.Window) - t),
			RetryAfter: max(time.Duration(w.free+int64(state.Window)-t), time.Second)}
	}
	a := state.Admission{Allowed: true, Limit: limit, Remaining: limit - w.n}
	if w.n > 0 {
		a.Reset = time.Duration(w.oldest + int64(state.Window) - t)
	}
	return a
}

// Settle releases r's reservation and debits cost (rounded up to 1e-18
// USD). A reservation that expired (debited in full) has its debit
// corrected to cost, once, for at least state.LateSettleWindow after it
// expired. Settling again, or settling a reservation that was not
// Reserved, does nothing.
func (l *Ledger) Settle(parent context.Context, r state.Reservation, cost decimal.Decimal, _ time.Time) error {
	c, err := splitUp(cost)
	if err != nil || !r.Reserved {
		return err
	}
	s := l.s
	err = s.call(parent, "ledger.settle", func(ctx context.Context) error {
		res, err := s.ledger.settle.Run(ctx, s.client, s.creditKeys(r.Account), r.ID, c.hi, c.lo).Int64()
		if err == nil && (res < 0 || res > 2) {
			err = fmt.Errorf("%w: settle %d", errBadReply, res)
		}
		return err
	})
	if err != nil {
		return ledgerFailed("ledger.settle", err)
	}
	return nil
}

// Renew keeps r open until now + the reservation TTL (never shortening
// it). A reservation already settled or expired at now stays as it is:
// its Settle still comes.
func (l *Ledger) Renew(parent context.Context, r state.Reservation, now time.Time) error {
	if !r.Reserved {
		return nil
	}
	s := l.s
	t := max(now.UnixNano(), 0)
	err := s.call(parent, "ledger.renew", func(ctx context.Context) error {
		res, err := s.ledger.renew.Run(ctx, s.client, s.creditKeys(r.Account),
			r.ID, pad(t), pad(t+int64(s.opts.reservationTTL))).Int64()
		if err == nil && (res < 0 || res > 1) {
			err = fmt.Errorf("%w: renew %d", errBadReply, res)
		}
		return err
	})
	if err != nil {
		return ledgerFailed("ledger.renew", err)
	}
	return nil
}

// Balance returns account's spend and open reservations after expiring
// every one due at now. An account never seen has a zero balance.
func (l *Ledger) Balance(parent context.Context, account string, now time.Time) (state.Balance, error) {
	s := l.s
	t := max(now.UnixNano(), 0)
	var m [2]money
	err := s.call(parent, "ledger.balance", func(ctx context.Context) error {
		res, err := s.ledger.balance.Run(ctx, s.client, s.creditKeys(account),
			"("+pad(t+1), balanceBatch, state.LateSettleWindow.Milliseconds()).Slice()
		if err == nil {
			m, err = parseMoney(res)
		}
		return err
	})
	if err != nil {
		return state.Balance{}, ledgerFailed("ledger.balance", err)
	}
	return state.Balance{Spent: m[0].decimal(), Reserved: m[1].decimal()}, nil
}

// creditKeys are the account's hash, open set, amounts and expired hash,
// in the order the scripts expect, with room for a fifth.
func (s *Store) creditKeys(account string) []string {
	base := s.opts.prefix + "credit:{" + escape(account) + "}"
	keys := make([]string, 4, 5)
	keys[0], keys[1], keys[2], keys[3] = base, base+":open", base+":amounts", base+":expired"
	return keys
}

// ledgerFailed returns a failed ledger call (the error hook has seen it)
// for the caller, who refuses the request.
func ledgerFailed(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", state.ErrUnavailable, op, err)
}
