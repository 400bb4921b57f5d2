package state

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestLedgerOptions(t *testing.T) {
	if g := NewLedger(NewLimiter()); g.ttl != ReservationTTL {
		t.Errorf("default TTL %v, want %v", g.ttl, ReservationTTL)
	}
	if g := NewLedger(NewLimiter(), WithReservationTTL(time.Second), WithReservationTTL(0)); g.ttl != time.Second {
		t.Errorf("TTL %v, want 1s (a non-positive one keeps the last)", g.ttl)
	}
	if a, b := NewLedger(NewLimiter()), NewLedger(NewLimiter()); a.idPrefix == b.idPrefix {
		t.Errorf("two ledgers share the id prefix %q", a.idPrefix)
	}
}

// Expired reservations whose late-settle window passed are forgotten (a
// Settle then changes nothing); settled and expired ones leave no entry
// behind.
func TestLedgerForgetsOldExpiries(t *testing.T) {
	g := NewLedger(NewLimiter(), WithReservationTTL(time.Minute))
	ctx := context.Background()
	hold := Hold{Account: "acct", Credit: decimal.RequireFromString("1"), Amount: decimal.RequireFromString("0.1")}
	_, a, _ := g.AdmitReserve(ctx, "k", 0, hold, t0)
	_, b, _ := g.AdmitReserve(ctx, "k", 0, hold, t0)
	if err := g.Settle(ctx, b, decimal.RequireFromString("0.05"), at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Balance(ctx, "acct", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	acct := g.shards[shardOf("acct")].m["acct"]
	if len(acct.open) != 0 || len(acct.due) != 0 || len(acct.gone) != 1 {
		t.Fatalf("after expiry: %d open, %d in the heap, %d expired; want 0, 0, 1", len(acct.open), len(acct.due), len(acct.gone))
	}
	if _, err := g.Balance(ctx, "acct", at(time.Minute+LateSettleWindow)); err != nil {
		t.Fatal(err)
	}
	if len(acct.gone) != 0 {
		t.Fatalf("%d expired reservations kept past the late-settle window", len(acct.gone))
	}
	if err := g.Settle(ctx, a, decimal.Zero, at(time.Minute+LateSettleWindow)); err != nil {
		t.Fatal(err)
	}
	bal, _ := g.Balance(ctx, "acct", at(time.Minute+LateSettleWindow))
	if want := decimal.RequireFromString("0.15"); !bal.Spent.Equal(want) || !bal.Reserved.IsZero() {
		t.Errorf("balance %+v, want spent %s: a settle after the window changes nothing", bal, want)
	}
}

// Reservations expire in expiry order whatever order they were taken and
// renewed in.
func TestLedgerExpiryOrder(t *testing.T) {
	g := NewLedger(NewLimiter(), WithReservationTTL(time.Minute))
	ctx := context.Background()
	var rs []Reservation
	for i := range 20 {
		// taken at 19 s, 18 s, ... 0 s: the clock steps back
		_, r, err := g.AdmitReserve(ctx, "k", 0, Hold{Account: "acct", Credit: decimal.NewFromInt(1000), Amount: decimal.NewFromInt(int64(i + 1))}, at(time.Duration(19-i)*time.Second))
		if err != nil || !r.Reserved {
			t.Fatalf("reservation %d: %+v, %v", i, r, err)
		}
		rs = append(rs, r)
	}
	// The one taken last (at 0 s) is renewed at 30 s: it expires at 90 s.
	if err := g.Renew(ctx, rs[19], at(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for s := range 20 {
		// At 60 + s seconds, those taken at s seconds or earlier expired
		// (reservation i was taken at 19 - i s and holds i + 1), except
		// the renewed one.
		spent := 0
		for i := 19 - s; i < 19; i++ {
			spent += i + 1
		}
		bal, _ := g.Balance(ctx, "acct", at(time.Minute+time.Duration(s)*time.Second))
		if !bal.Spent.Equal(decimal.NewFromInt(int64(spent))) {
			t.Fatalf("at %d s: spent %s, want %d", 60+s, bal.Spent, spent)
		}
	}
	bal, _ := g.Balance(ctx, "acct", at(90*time.Second))
	if !bal.Spent.Equal(decimal.NewFromInt(210)) || !bal.Reserved.IsZero() {
		t.Errorf("at 90 s: %+v, want all 210 spent", bal)
	}
}
