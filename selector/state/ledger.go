package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// ReservationTTL is how long a credit reservation lives after it was taken
// or last renewed. One still open then (its replica died, or forgot it) is
// debited in full.
const ReservationTTL = 15 * time.Minute

// LateSettleWindow is how long, at least, after a reservation expired a
// late Settle still corrects its full debit to the actual cost.
const LateSettleWindow = 24 * time.Hour

var (
	// ErrBadAmount: a negative amount or cost, or (in the shared ledger)
	// one too large to keep exactly.
	ErrBadAmount = errors.New("state: negative or out-of-range amount")
	// ErrUnavailable: the shared state did not answer, or answered
	// something unreadable. Nothing is known about the call's effect.
	ErrUnavailable = errors.New("state: shared state unavailable")
)

// Hold is a reservation to take with an RPM admission.
type Hold struct {
	Account string
	// Credit is the account's credit in the catalog in force. It is given
	// on every call rather than stored, so a reload that changes it takes
	// effect at once while spend is kept.
	Credit decimal.Decimal
	Amount decimal.Decimal // the request's worst-case cost, >= 0
}

// Reservation is the ledger's answer about a Hold.
type Reservation struct {
	// Reserved is false when the remaining credit did not cover Amount:
	// nothing was taken, no RPM slot either.
	Reserved bool
	ID       string // unique across replicas, set when Reserved
	Account  string
	Amount   decimal.Decimal
	// Remaining is credit − spent − reserved just before this request; it
	// is below zero once actual costs overran their reservations.
	Remaining decimal.Decimal
}

// Balance is an account's ledger.
type Balance struct{ Spent, Reserved decimal.Decimal }

// Ledger keeps each account's spend and open reservations in memory, for a
// single replica, and takes a reservation together with an RPM admission
// of the Limiter it was built on: a key's plain Admit and its AdmitReserve
// count in one window.
//
// Accounts live in independently locked shards. AdmitReserve holds its
// account's shard lock across the credit check, the RPM check and the
// reservation, so two requests of one account never both pass on the same
// remaining credit; the limiter's own lock makes the RPM part atomic
// against plain admissions. Accounts are never dropped: spend is kept for
// good.
//
// Every call takes the current time; reservations expire by it.
type Ledger struct {
	limiter *Limiter
	ttl     time.Duration
	// idPrefix and seq make reservation ids: a random prefix, so ids from
	// different processes differ, then a counter.
	idPrefix string
	seq      atomic.Uint64
	shards   [numShards]ledgerShard
}

type ledgerShard struct {
	mu sync.Mutex
	m  map[string]*account
}

// LedgerOption configures a Ledger.
type LedgerOption func(*Ledger)

// WithReservationTTL sets how long a reservation lives after it was taken
// or last renewed (default ReservationTTL); a non-positive d keeps the
// default.
func WithReservationTTL(d time.Duration) LedgerOption {
	return func(g *Ledger) {
		if d > 0 {
			g.ttl = d
		}
	}
}

// NewLedger returns an empty ledger whose admissions go through l.
func NewLedger(l *Limiter, opts ...LedgerOption) *Ledger {
	var id [6]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand, Go 1.24+)
	g := &Ledger{limiter: l, ttl: ReservationTTL, idPrefix: hex.EncodeToString(id[:]) + "-"}
	for _, opt := range opts {
		opt(g)
	}
	for i := range g.shards {
		g.shards[i].m = make(map[string]*account)
	}
	return g
}

// AdmitReserve checks key against limit exactly as Limiter.Admit does and,
// when that passes, reserves h.Amount of h.Account's credit, in one step:
//   - over the RPM limit: the denial, and a zero Reservation (the credit
//     was not looked at);
//   - credit − spent − reserved below h.Amount: the Admission Peek would
//     give (nothing taken) and Reserved false, with Remaining;
//   - otherwise the RPM slot and the reservation are both taken.
//
// The error is ErrBadAmount for a negative amount; this ledger never fails
// otherwise.
func (g *Ledger) AdmitReserve(ctx context.Context, key string, limit int, h Hold, now time.Time) (Admission, Reservation, error) {
	if h.Amount.IsNegative() {
		return Admission{}, Reservation{}, fmt.Errorf("%w: amount %s", ErrBadAmount, h.Amount)
	}
	t := now.UnixNano()
	s := &g.shards[shardOf(h.Account)]
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.m[h.Account]
	if a == nil {
		a = &account{}
		s.m[h.Account] = a
	}
	a.expire(t)
	remaining := h.Credit.Sub(a.spent).Sub(a.reserved)
	if remaining.LessThan(h.Amount) {
		adm := g.limiter.Peek(ctx, key, limit, now)
		if !adm.Allowed {
			return adm, Reservation{}, nil
		}
		return adm, Reservation{Account: h.Account, Amount: h.Amount, Remaining: remaining}, nil
	}
	adm := g.limiter.Admit(ctx, key, limit, now)
	if !adm.Allowed {
		return adm, Reservation{}, nil
	}
	id := g.idPrefix + strconv.FormatUint(g.seq.Add(1), 36)
	a.hold(id, h.Amount, t+int64(g.ttl))
	return adm, Reservation{Reserved: true, ID: id, Account: h.Account, Amount: h.Amount, Remaining: remaining}, nil
}

// Settle releases r's reservation and debits cost. A reservation that has
// expired (debited in full) has its debit corrected to cost, once, for at
// least LateSettleWindow after it expired. Settling again, or settling a
// reservation that was not Reserved, does nothing. The error is
// ErrBadAmount for a negative cost.
func (g *Ledger) Settle(_ context.Context, r Reservation, cost decimal.Decimal, now time.Time) error {
	if cost.IsNegative() {
		return fmt.Errorf("%w: cost %s", ErrBadAmount, cost)
	}
	if !r.Reserved {
		return nil
	}
	s := &g.shards[shardOf(r.Account)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.m[r.Account]; a != nil {
		a.expire(now.UnixNano())
		a.settle(r.ID, cost)
	}
	return nil
}

// Renew keeps r open until now + the reservation TTL (never shortening
// it). A reservation already settled or expired stays as it is: its Settle
// still comes.
func (g *Ledger) Renew(_ context.Context, r Reservation, now time.Time) error {
	if !r.Reserved {
		return nil
	}
	t := now.UnixNano()
	s := &g.shards[shardOf(r.Account)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.m[r.Account]; a != nil {
		a.expire(t)
		a.renew(r.ID, t+int64(g.ttl))
	}
	return nil
}

// Balance returns account's spend and open reservations after expiring
// those due at now. An account never seen has a zero balance.
func (g *Ledger) Balance(_ context.Context, account string, now time.Time) (Balance, error) {
	s := &g.shards[shardOf(account)]
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.m[account]
	if a == nil {
		return Balance{}, nil
	}
	a.expire(now.UnixNano())
	return Balance{Spent: a.spent, Reserved: a.reserved}, nil
}
