package redisstate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/statetest"
)

// The interface the ext_proc server declares for the credit ledger.
var _ statetest.CreditLedger = (*Ledger)(nil)

func usd(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// The conformance cases of selector/state's ledger, against Redis.
func TestLedgerConformance(t *testing.T) {
	r := startRedis(t)
	client := r.Client(t)
	statetest.Ledger(t, func(t *testing.T, ttl time.Duration) (statetest.CreditLedger, statetest.RateLimiter) {
		s := newStore(t, client, WithPrefix("test:"+t.Name()+":"), WithReservationTTL(ttl))
		return s.Ledger(), s.Limiter()
	})
}

// Two replicas, 400 requests at once for an account whose credit covers
// 50: exactly 50 reserved, and settling them all from both replicas
// leaves exactly the sum of their costs.
func TestLedgerConcurrent(t *testing.T) {
	r := startRedis(t)
	a, b := newStore(t, r.Client(t)), newStore(t, r.Client(t))
	statetest.ConcurrentReserve(t, []statetest.CreditLedger{a.Ledger(), b.Ledger()}, 400, 50)
}

// A replica dies holding three reservations: another one's Balance after
// the TTL shows them debited in full, once.
func TestLedgerKilledReplica(t *testing.T) {
	r := startRedis(t)
	const ttl = time.Minute
	dying := r.Client(t)
	a := newStore(t, dying, WithReservationTTL(ttl)).Ledger()
	b := newStore(t, r.Client(t), WithReservationTTL(ttl)).Ledger()
	ctx := context.Background()
	hold := state.Hold{Account: "acct", Credit: usd("1"), Amount: usd("0.000123456789")}
	for i := range 3 {
		_, res, err := a.AdmitReserve(ctx, "k", 10, hold, at(time.Duration(i)*time.Second))
		if err != nil || !res.Reserved {
			t.Fatalf("reservation %d: %+v, %v", i, res, err)
		}
	}
	if err := dying.Close(); err != nil {
		t.Fatal(err)
	}
	want := func(now time.Duration, spent, reserved string) {
		t.Helper()
		bal, err := b.Balance(ctx, "acct", at(now))
		if err != nil {
			t.Fatal(err)
		}
		if !bal.Spent.Equal(usd(spent)) || !bal.Reserved.Equal(usd(reserved)) {
			t.Fatalf("at %v: spent %s reserved %s, want %s and %s", now, bal.Spent, bal.Reserved, spent, reserved)
		}
	}
	want(ttl+time.Second, "0.000246913578", "0.000123456789")
	want(ttl+2*time.Second, "0.000370370367", "0")
	want(ttl+2*time.Second, "0.000370370367", "0")
	want(2*ttl, "0.000370370367", "0")
}

// The account's keys: money as integer fields, open reservations by
// expiry with their amounts, expired ones kept for a late Settle (with a
// key TTL) and everything else kept for good.
func TestLedgerKeyLayout(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	s := newStore(t, c, WithPrefix("p:"), WithReservationTTL(time.Minute))
	l := s.Ledger()
	hold := state.Hold{Account: "acct:1", Credit: usd("10"), Amount: usd("1.000000000000000001")}
	_, a, _ := l.AdmitReserve(ctx, "key", 0, hold, t0)
	_, b, _ := l.AdmitReserve(ctx, "key", 0, hold, at(time.Second))
	if err := l.Settle(ctx, b, usd("0.0000015"), at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	const base = "p:credit:{acct%3A1}"
	if got := c.HGetAll(ctx, base).Val(); got["spent_hi"] != "1" || got["spent_lo"] != "500000000000" ||
		got["reserved_hi"] != "1000000" || got["reserved_lo"] != "1" || len(got) != 4 {
		t.Errorf("%s = %v", base, got)
	}
	exp := pad(t0.Add(time.Minute).UnixNano())
	if got := c.ZRange(ctx, base+":open", 0, -1).Val(); len(got) != 1 || got[0] != exp+a.ID {
		t.Errorf("open = %q, want [%s%s]", got, exp, a.ID)
	}
	if got := c.HGetAll(ctx, base+":amounts").Val(); len(got) != 1 || got[a.ID] != "1000000:1:"+exp {
		t.Errorf("amounts = %v", got)
	}
	if _, err := l.Balance(ctx, "acct:1", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := c.HGetAll(ctx, base+":expired").Val(); len(got) != 1 || got[a.ID] != "1000000:1" {
		t.Errorf("expired = %v", got)
	}
	if ttl := c.PTTL(ctx, base+":expired").Val(); ttl <= state.LateSettleWindow-time.Minute || ttl > state.LateSettleWindow {
		t.Errorf("expired PTTL = %v, want about %v", ttl, state.LateSettleWindow)
	}
	for _, k := range []string{base, base + ":open", base + ":amounts"} {
		if ttl := c.PTTL(ctx, k).Val(); ttl != -1 && ttl != -2 {
			t.Errorf("%s has a TTL (%v): spend is kept for good", k, ttl)
		}
	}
	if n := c.Exists(ctx, base+":open", base+":amounts").Val(); n != 0 {
		t.Errorf("%d empty open keys left", n)
	}
	if !strings.HasPrefix(a.ID, s.member[1:]) {
		t.Errorf("id %q does not start with the Store's suffix %q", a.ID, s.member[1:])
	}
}

// AdmitReserve expires at most sweepMax due reservations per call; Balance
// expires all of them. The remaining credit is the same either way.
func TestLedgerSweepIsBounded(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	l := newStore(t, c, WithReservationTTL(time.Minute)).Ledger()
	const n = sweepMax*2 + balanceBatch + 10
	hold := state.Hold{Account: "acct", Credit: usd("1"), Amount: usd("0.001")}
	for i := range n {
		if _, res, err := l.AdmitReserve(ctx, "k", 0, hold, at(time.Duration(i))); err != nil || !res.Reserved {
			t.Fatalf("reservation %d: %+v, %v", i, res, err)
		}
	}
	small := state.Hold{Account: "acct", Credit: usd("1"), Amount: usd("0")}
	_, res, err := l.AdmitReserve(ctx, "k", 0, small, at(time.Hour))
	if err != nil || !res.Remaining.Equal(usd("1").Sub(usd("0.001").Mul(decimal.NewFromInt(n)))) {
		t.Fatalf("after expiry: %+v, %v", res, err)
	}
	if got := c.ZCard(ctx, "cpen:credit:{acct}:open").Val(); got != n-sweepMax+1 {
		t.Errorf("%d open after one AdmitReserve, want %d", got, n-sweepMax+1)
	}
	bal, err := l.Balance(ctx, "acct", at(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := usd("0.001").Mul(decimal.NewFromInt(n)); !bal.Spent.Equal(want) || !bal.Reserved.IsZero() {
		t.Errorf("Balance %+v, want spent %s", bal, want)
	}
	if got := c.ZCard(ctx, "cpen:credit:{acct}:open").Val(); got != 1 {
		t.Errorf("%d open after Balance, want 1 (the zero one, not yet due)", got)
	}
}

// With Redis stopped, every ledger call fails within its timeout with
// state.ErrUnavailable, reported to the hook; AdmitReserve reserves
// nothing.
func TestLedgerRedisDown(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	hold := state.Hold{Account: "acct", Credit: usd("1"), Amount: usd("0.1")}
	_, held, err := newStore(t, c).Ledger().AdmitReserve(ctx, "k", 5, hold, t0)
	if err != nil || !held.Reserved {
		t.Fatalf("while up: %+v, %v", held, err)
	}
	r.Stop()
	const timeout = 100 * time.Millisecond
	var h hookLog
	l := New(c, WithTimeout(timeout), WithErrorHook(h.hook)).Ledger()
	start := time.Now()
	a, res, err := l.AdmitReserve(ctx, "k", 5, hold, at(time.Second))
	if !errors.Is(err, state.ErrUnavailable) || res.Reserved || a.Allowed {
		t.Errorf("AdmitReserve: %+v, %+v, %v; want nothing and ErrUnavailable", a, res, err)
	}
	if err := l.Settle(ctx, held, usd("0.1"), at(time.Second)); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("Settle: %v", err)
	}
	if err := l.Renew(ctx, held, at(time.Second)); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("Renew: %v", err)
	}
	if _, err := l.Balance(ctx, "acct", at(time.Second)); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("Balance: %v", err)
	}
	if d := time.Since(start); d > 4*timeout+time.Second {
		t.Errorf("four failing calls took %v with a %v timeout", d, timeout)
	} else {
		t.Logf("four failing calls took %v with a %v timeout", d, timeout)
	}
	ops, _ := h.take()
	if want := "ledger.admit"; strings.Join(ops, " ") != want { // the breaker keeps the others from Redis
		t.Errorf("hook ops %q, want %s", ops, want)
	}
	// Refused before Redis: a negative amount is the caller's mistake,
	// not a Redis failure.
	if _, _, err := l.AdmitReserve(ctx, "k", 5, state.Hold{Account: "acct", Amount: usd("-1")}, t0); !errors.Is(err, state.ErrBadAmount) {
		t.Errorf("negative amount: %v", err)
	}
	if ops, _ := h.take(); len(ops) != 0 {
		t.Errorf("hook called for a bad amount: %q", ops)
	}
}

// EVALSHA falls back to EVAL when Redis has lost its script cache.
func TestLedgerScriptFlushed(t *testing.T) {
	r := startRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	l := newStore(t, c).Ledger()
	hold := state.Hold{Account: "acct", Credit: usd("1"), Amount: usd("0.25")}
	_, a, _ := l.AdmitReserve(ctx, "k", 3, hold, t0)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Settle(ctx, a, usd("0.125"), at(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, b, err := l.AdmitReserve(ctx, "k", 3, hold, at(time.Second))
	if err != nil || !b.Reserved || !b.Remaining.Equal(usd("0.875")) {
		t.Fatalf("after SCRIPT FLUSH: %+v, %v", b, err)
	}
}
