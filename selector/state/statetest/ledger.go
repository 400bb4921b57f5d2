package statetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector/state"
)

// CreditLedger is the credit ledger the server drives: state.Ledger in
// process, redisstate.Ledger shared.
type CreditLedger interface {
	AdmitReserve(ctx context.Context, key string, limit int, h state.Hold, now time.Time) (state.Admission, state.Reservation, error)
	Settle(ctx context.Context, r state.Reservation, cost decimal.Decimal, now time.Time) error
	Renew(ctx context.Context, r state.Reservation, now time.Time) error
	Balance(ctx context.Context, account string, now time.Time) (state.Balance, error)
}

// RateLimiter is the plain limiter whose windows a ledger's admissions
// share.
type RateLimiter interface {
	Admit(ctx context.Context, key string, limit int, now time.Time) state.Admission
	Peek(ctx context.Context, key string, limit int, now time.Time) state.Admission
}

// NewLedger returns a fresh, empty ledger whose reservations live ttl
// after they were taken or renewed, and the limiter it admits through.
type NewLedger func(t *testing.T, ttl time.Duration) (CreditLedger, RateLimiter)

// ledgerTTL is the reservation TTL of the conformance cases: longer than
// the RPM window, so the two never line up by accident.
const ledgerTTL = 5 * time.Minute

// ledgerStart is the clock's start in the conformance cases.
var ledgerStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Ledger runs the conformance cases of a credit ledger, each on a fresh
// ledger from newLedger: exact decimal arithmetic, a credit refusal taking
// neither credit nor an RPM slot, the RPM limit checked before credit,
// overdraft by a cost above its reservation, idempotent Settle, renewal,
// expiry debiting in full once and a late Settle correcting it once, a
// credit changed by the caller keeping spend, separate accounts, and
// negative amounts refused.
func Ledger(t *testing.T, newLedger NewLedger) {
	cases := []struct {
		name string
		run  func(r *ledgerRun)
	}{
		{"exact arithmetic", exactArithmetic},
		{"eighteen decimal places", eighteenPlaces},
		{"a credit refusal takes no RPM slot and no credit", refusalTakesNothing},
		{"the RPM limit is checked before credit", rpmBeforeCredit},
		{"a cost over its reservation overdraws", overdraw},
		{"settle is idempotent", settleIdempotent},
		{"renew keeps a reservation open", renewKeepsOpen},
		{"expiry debits in full once and a late settle corrects it once", expiryAndLateSettle},
		{"AdmitReserve expires what is due", admitExpires},
		{"a credit changed by the caller keeps spend", creditChangeKeepsSpend},
		{"accounts are separate", accountsSeparate},
		{"negative amounts are refused", negativeAmounts},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, rl := newLedger(t, ledgerTTL)
			tc.run(&ledgerRun{t: t, l: l, rl: rl})
		})
	}
}

// ledgerRun drives one ledger at times after ledgerStart, failing the test
// on any error.
type ledgerRun struct {
	t  *testing.T
	l  CreditLedger
	rl RateLimiter
}

func usd(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func (r *ledgerRun) admit(key string, limit int, account, credit, amount string, at time.Duration) (state.Admission, state.Reservation) {
	r.t.Helper()
	a, res, err := r.l.AdmitReserve(context.Background(), key, limit,
		state.Hold{Account: account, Credit: usd(credit), Amount: usd(amount)}, ledgerStart.Add(at))
	if err != nil {
		r.t.Fatalf("AdmitReserve(%s, %s of %s) at %v: %v", account, amount, credit, at, err)
	}
	return a, res
}

// reserve admits on an unlimited key and checks the outcome: reserved or
// refused, with Remaining want.
func (r *ledgerRun) reserve(account, credit, amount string, at time.Duration, wantReserved bool, wantRemaining string) state.Reservation {
	r.t.Helper()
	a, res := r.admit("key", 0, account, credit, amount, at)
	if a != (state.Admission{Allowed: true}) {
		r.t.Fatalf("unlimited key: Admission %+v", a)
	}
	r.checkReservation(res, wantReserved, account, amount, wantRemaining)
	return res
}

func (r *ledgerRun) checkReservation(res state.Reservation, wantReserved bool, account, amount, wantRemaining string) {
	r.t.Helper()
	if res.Reserved != wantReserved || res.Account != account || !res.Amount.Equal(usd(amount)) ||
		!res.Remaining.Equal(usd(wantRemaining)) || (res.ID != "") != wantReserved {
		r.t.Fatalf("got %s, want reserved=%v account=%s amount=%s remaining=%s",
			showReservation(res), wantReserved, account, amount, wantRemaining)
	}
}

func showReservation(res state.Reservation) string {
	return "reserved=" + boolString(res.Reserved) + " id=" + res.ID + " account=" + res.Account +
		" amount=" + res.Amount.String() + " remaining=" + res.Remaining.String()
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (r *ledgerRun) settle(res state.Reservation, cost string, at time.Duration) {
	r.t.Helper()
	if err := r.l.Settle(context.Background(), res, usd(cost), ledgerStart.Add(at)); err != nil {
		r.t.Fatalf("Settle(%s, %s) at %v: %v", res.ID, cost, at, err)
	}
}

func (r *ledgerRun) renew(res state.Reservation, at time.Duration) {
	r.t.Helper()
	if err := r.l.Renew(context.Background(), res, ledgerStart.Add(at)); err != nil {
		r.t.Fatalf("Renew(%s) at %v: %v", res.ID, at, err)
	}
}

func (r *ledgerRun) balance(account string, at time.Duration, spent, reserved string) {
	r.t.Helper()
	b, err := r.l.Balance(context.Background(), account, ledgerStart.Add(at))
	if err != nil {
		r.t.Fatalf("Balance(%s) at %v: %v", account, at, err)
	}
	if !b.Spent.Equal(usd(spent)) || !b.Reserved.Equal(usd(reserved)) {
		r.t.Fatalf("Balance(%s) at %v = spent %s reserved %s, want spent %s reserved %s",
			account, at, b.Spent, b.Reserved, spent, reserved)
	}
}

func (r *ledgerRun) wantAdmission(got, want state.Admission) {
	r.t.Helper()
	if got != want {
		r.t.Fatalf("Admission %+v, want %+v", got, want)
	}
}

func exactArithmetic(r *ledgerRun) {
	const credit = "0.0001"
	var first state.Reservation
	remaining := usd(credit)
	for i := range 16 {
		res := r.reserve("acct", credit, "0.000006", time.Duration(i)*time.Millisecond, true, remaining.String())
		if i == 0 {
			first = res
		}
		remaining = remaining.Sub(usd("0.000006"))
	}
	r.reserve("acct", credit, "0.000006", time.Second, false, "0.000004")
	r.balance("acct", time.Second, "0", "0.000096")
	r.settle(first, "0.00000168", 2*time.Second)
	r.balance("acct", 2*time.Second, "0.00000168", "0.00009")
	r.reserve("acct", credit, "0.000006", 3*time.Second, true, "0.00000832")
	// The last of the credit, exactly: remaining equal to the amount is
	// covered, then nothing is left for even the least amount.
	r.reserve("acct", credit, "0.00000232", 4*time.Second, true, "0.00000232")
	r.reserve("acct", credit, "0", 4*time.Second, true, "0")
	r.reserve("acct", credit, "0.000000000000000001", 4*time.Second, false, "0")
	r.balance("acct", 5*time.Second, "0.00000168", "0.00009832")
}

// Amounts down to 1e-18 USD, whose sums carry across whole micro-USD.
func eighteenPlaces(r *ledgerRun) {
	const credit = "0.000002"
	a := r.reserve("acct", credit, "0.000000999999999999", 0, true, "0.000002")
	b := r.reserve("acct", credit, "0.000000999999999999", 0, true, "0.000001000000000001")
	r.balance("acct", 0, "0", "0.000001999999999998")
	r.reserve("acct", credit, "0.000000000000000003", 0, false, "0.000000000000000002")
	c := r.reserve("acct", credit, "0.000000000000000002", 0, true, "0.000000000000000002")
	r.balance("acct", 0, "0", "0.000002")
	r.settle(a, "0.000001000000000001", time.Second)
	r.settle(b, "0.000000000000000001", time.Second)
	r.balance("acct", time.Second, "0.000001000000000002", "0.000000000000000002")
	r.settle(c, "0", time.Second)
	r.balance("acct", time.Second, "0.000001000000000002", "0")
	r.reserve("acct", credit, "0.000000999999999998", time.Second, true, "0.000000999999999998")
}

func refusalTakesNothing(r *ledgerRun) {
	const credit = "0.00001"
	a, first := r.admit("k", 3, "acct", credit, "0.00001", 0)
	r.wantAdmission(a, state.Admission{Allowed: true, Limit: 3, Remaining: 2, Reset: 60 * time.Second})
	r.checkReservation(first, true, "acct", "0.00001", credit)
	// Refused for credit: the Admission is what Peek reports, and the
	// window still holds one admission afterwards.
	a, res := r.admit("k", 3, "acct", credit, "0.000001", time.Second)
	r.wantAdmission(a, state.Admission{Allowed: true, Limit: 3, Remaining: 2, Reset: 59 * time.Second})
	r.checkReservation(res, false, "acct", "0.000001", "0")
	r.wantAdmission(r.rl.Peek(context.Background(), "k", 3, ledgerStart.Add(time.Second)),
		state.Admission{Allowed: true, Limit: 3, Remaining: 2, Reset: 59 * time.Second})
	r.balance("acct", time.Second, "0", "0.00001")
	r.settle(first, "0.000004", 2*time.Second)
	a, res = r.admit("k", 3, "acct", credit, "0.000006", 3*time.Second)
	r.wantAdmission(a, state.Admission{Allowed: true, Limit: 3, Remaining: 1, Reset: 57 * time.Second})
	r.checkReservation(res, true, "acct", "0.000006", "0.000006")
	r.balance("acct", 3*time.Second, "0.000004", "0.000006")
}

func rpmBeforeCredit(r *ledgerRun) {
	const credit = "0.001"
	// A plain admission and a reserving one count in one window.
	r.wantAdmission(r.rl.Admit(context.Background(), "k", 2, ledgerStart),
		state.Admission{Allowed: true, Limit: 2, Remaining: 1, Reset: 60 * time.Second})
	a, res := r.admit("k", 2, "acct", credit, "0.0001", time.Second)
	r.wantAdmission(a, state.Admission{Allowed: true, Limit: 2, Remaining: 0, Reset: 59 * time.Second})
	r.checkReservation(res, true, "acct", "0.0001", credit)
	denied := state.Admission{Limit: 2, Reset: 58 * time.Second, RetryAfter: 58 * time.Second}
	for _, amount := range []string{"0.0001", "1"} { // covered, then not: RPM answers first
		a, res = r.admit("k", 2, "acct", credit, amount, 2*time.Second)
		r.wantAdmission(a, denied)
		if res.Reserved || res.ID != "" || res.Account != "" || !res.Amount.IsZero() || !res.Remaining.IsZero() {
			r.t.Fatalf("RPM denial of %s: Reservation %s, want the zero value", amount, showReservation(res))
		}
	}
	r.balance("acct", 2*time.Second, "0", "0.0001")
	// The plain admission left: the window holds the reserving one only.
	a, res = r.admit("k", 2, "acct", credit, "1", 60*time.Second)
	r.wantAdmission(a, state.Admission{Allowed: true, Limit: 2, Remaining: 1, Reset: time.Second})
	r.checkReservation(res, false, "acct", "1", "0.0009")
	r.wantAdmission(r.rl.Peek(context.Background(), "k", 2, ledgerStart.Add(60*time.Second)),
		state.Admission{Allowed: true, Limit: 2, Remaining: 1, Reset: time.Second})
	// Another key of the account has its own window and the same credit.
	a, res = r.admit("other", 1, "acct", credit, "0.0009", 60*time.Second)
	r.wantAdmission(a, state.Admission{Allowed: true, Limit: 1, Remaining: 0, Reset: 60 * time.Second})
	r.checkReservation(res, true, "acct", "0.0009", "0.0009")
	r.balance("acct", 60*time.Second, "0", "0.001")
}

func overdraw(r *ledgerRun) {
	const credit = "0.001"
	res := r.reserve("acct", credit, "0.001", 0, true, credit)
	r.settle(res, "0.0015", time.Second)
	r.balance("acct", time.Second, "0.0015", "0")
	r.reserve("acct", credit, "0", 2*time.Second, false, "-0.0005")
	r.reserve("acct", credit, "0.0001", 2*time.Second, false, "-0.0005")
}

func settleIdempotent(r *ledgerRun) {
	const credit = "0.001"
	a := r.reserve("acct", credit, "0.0002", 0, true, credit)
	b := r.reserve("acct", credit, "0.0003", 0, true, "0.0008")
	refused := r.reserve("acct", credit, "0.0006", 0, false, "0.0005")
	r.settle(a, "0.0001", time.Second)
	r.settle(a, "0.0002", 2*time.Second)
	r.balance("acct", 2*time.Second, "0.0001", "0.0003")
	r.settle(b, "0.0003", 3*time.Second)
	r.settle(b, "0.0003", 4*time.Second)
	r.settle(refused, "0.0006", 4*time.Second)
	r.settle(state.Reservation{}, "0.0006", 4*time.Second)
	r.balance("acct", 4*time.Second, "0.0004", "0")
}

func renewKeepsOpen(r *ledgerRun) {
	const credit = "0.001"
	a := r.reserve("acct", credit, "0.0001", 0, true, credit)
	r.reserve("acct", credit, "0.0002", 0, true, "0.0009")
	r.renew(a, ledgerTTL-time.Second)
	// The second expires at the TTL to the nanosecond; a, renewed, a TTL
	// after its renewal.
	r.balance("acct", ledgerTTL-1, "0", "0.0003")
	r.balance("acct", ledgerTTL, "0.0002", "0.0001")
	r.balance("acct", 2*ledgerTTL-time.Second-1, "0.0002", "0.0001")
	// Renewed again, to 2 TTL; a renewal stamped earlier (a replica whose
	// clock is behind) does not bring that forward.
	r.renew(a, ledgerTTL)
	r.renew(a, ledgerTTL-time.Minute)
	r.balance("acct", 2*ledgerTTL-1, "0.0002", "0.0001")
	r.balance("acct", 2*ledgerTTL, "0.0003", "0")
	// Renewing after expiry does not reopen it.
	r.renew(a, 2*ledgerTTL+time.Second)
	r.balance("acct", 2*ledgerTTL+time.Second, "0.0003", "0")
}

func expiryAndLateSettle(r *ledgerRun) {
	const credit = "0.0001"
	a := r.reserve("acct", credit, "0.00005", 0, true, credit)
	b := r.reserve("acct", credit, "0.00002", time.Second, true, "0.00005")
	r.balance("acct", ledgerTTL-1, "0", "0.00007")
	r.balance("acct", ledgerTTL, "0.00005", "0.00002")
	r.balance("acct", ledgerTTL, "0.00005", "0.00002") // not debited twice
	r.balance("acct", ledgerTTL+time.Second, "0.00007", "0")
	r.balance("acct", ledgerTTL+time.Minute, "0.00007", "0")
	r.settle(a, "0.00001", ledgerTTL+2*time.Minute)
	r.balance("acct", ledgerTTL+2*time.Minute, "0.00003", "0")
	r.settle(a, "0.00004", ledgerTTL+3*time.Minute)
	r.balance("acct", ledgerTTL+3*time.Minute, "0.00003", "0")
	r.renew(b, ledgerTTL+3*time.Minute)
	r.balance("acct", ledgerTTL+3*time.Minute, "0.00003", "0")
	r.settle(b, "0.00002", ledgerTTL+4*time.Minute) // the actual cost of b: as debited
	r.settle(b, "0", ledgerTTL+4*time.Minute)
	r.balance("acct", ledgerTTL+4*time.Minute, "0.00003", "0")
	r.reserve("acct", credit, "0.00007", ledgerTTL+5*time.Minute, true, "0.00007")
}

func admitExpires(r *ledgerRun) {
	const credit = "0.0001"
	r.reserve("acct", credit, "0.0001", 0, true, credit)
	r.reserve("acct", credit, "0", ledgerTTL-1, true, "0")
	r.reserve("acct", credit, "0.00000001", ledgerTTL, false, "0")
	r.balance("acct", ledgerTTL, "0.0001", "0")
}

func creditChangeKeepsSpend(r *ledgerRun) {
	res := r.reserve("acct", "0.0001", "0.0001", 0, true, "0.0001")
	r.settle(res, "0.00008", time.Second)
	held := r.reserve("acct", "0.0001", "0.00002", 2*time.Second, true, "0.00002")
	r.reserve("acct", "0.0001", "0.00001", 2*time.Second, false, "0")
	// Raised by a reload: spend and the open reservation stay.
	r.reserve("acct", "0.0003", "0.0002", 3*time.Second, true, "0.0002")
	// Lowered below what is spent and reserved.
	r.reserve("acct", "0.00005", "0", 4*time.Second, false, "-0.00025")
	r.settle(held, "0.00001", 5*time.Second)
	r.balance("acct", 5*time.Second, "0.00009", "0.0002")
}

func accountsSeparate(r *ledgerRun) {
	r.reserve("a", "0.0001", "0.0001", 0, true, "0.0001")
	r.reserve("a", "0.0001", "0.00001", 0, false, "0")
	b := r.reserve("b", "0.0001", "0.00001", 0, true, "0.0001")
	r.settle(b, "0.000001", time.Second)
	r.balance("a", time.Second, "0", "0.0001")
	r.balance("b", time.Second, "0.000001", "0")
	r.balance("never seen", time.Second, "0", "0")
	// A Settle naming the wrong account does nothing.
	a := r.reserve("a:x", "0.0001", "0.00001", 0, true, "0.0001")
	wrong := a
	wrong.Account = "b"
	r.settle(wrong, "0.00001", 2*time.Second)
	r.balance("b", 2*time.Second, "0.000001", "0")
	r.balance("a:x", 2*time.Second, "0", "0.00001")
}

func negativeAmounts(r *ledgerRun) {
	ctx := context.Background()
	if _, res, err := r.l.AdmitReserve(ctx, "k", 0, state.Hold{Account: "acct", Credit: usd("1"), Amount: usd("-0.1")}, ledgerStart); !errors.Is(err, state.ErrBadAmount) || res.Reserved {
		r.t.Fatalf("negative amount: %s, %v; want ErrBadAmount", showReservation(res), err)
	}
	res := r.reserve("acct", "1", "0.1", 0, true, "1")
	if err := r.l.Settle(ctx, res, usd("-0.1"), ledgerStart); !errors.Is(err, state.ErrBadAmount) {
		r.t.Fatalf("negative cost: %v; want ErrBadAmount", err)
	}
	r.balance("acct", 0, "0", "0.1")
}

// ConcurrentReserve starts goroutines AdmitReserve calls at once,
// goroutine g on ledgers[g % len(ledgers)] with its own key, all for one
// account whose credit covers exactly fit reservations of one amount
// (goroutines > fit). Exactly fit must be reserved, whichever replicas
// they ran on. Each is then settled, concurrently, with a distinct cost at
// most its amount, and the balance must be exactly the sum of the costs
// with nothing reserved.
func ConcurrentReserve(t *testing.T, ledgers []CreditLedger, goroutines, fit int) {
	t.Helper()
	const account = "acct"
	amount := usd("0.000123456789012345")
	credit := amount.Mul(decimal.NewFromInt(int64(fit)))
	now := ledgerStart
	start := make(chan struct{})
	results := make([]state.Reservation, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			key := "key_" + strconv.Itoa(g)
			a, res, err := ledgers[g%len(ledgers)].AdmitReserve(context.Background(), key, 1000,
				state.Hold{Account: account, Credit: credit, Amount: amount}, now)
			if err != nil {
				t.Errorf("goroutine %d: %v", g, err)
				return
			}
			if !a.Allowed {
				t.Errorf("goroutine %d: RPM denied its own key: %+v", g, a)
			}
			results[g] = res
		})
	}
	close(start)
	wg.Wait()
	var reserved []state.Reservation
	ids := map[string]bool{}
	for _, res := range results {
		if !res.Reserved {
			continue
		}
		if ids[res.ID] {
			t.Errorf("reservation id %q given twice", res.ID)
		}
		ids[res.ID] = true
		reserved = append(reserved, res)
	}
	if len(reserved) != fit {
		t.Fatalf("%d of %d reserved, want exactly %d", len(reserved), goroutines, fit)
	}
	// Costs amount − i·1e-18: distinct, at most the reservation.
	tick := usd("0.000000000000000001")
	sum := decimal.Zero
	for i, res := range reserved {
		cost := amount.Sub(tick.Mul(decimal.NewFromInt(int64(i))))
		sum = sum.Add(cost)
		wg.Go(func() {
			if err := ledgers[i%len(ledgers)].Settle(context.Background(), res, cost, now.Add(time.Second)); err != nil {
				t.Errorf("settle %s: %v", res.ID, err)
			}
		})
	}
	wg.Wait()
	for i, l := range ledgers {
		b, err := l.Balance(context.Background(), account, now.Add(2*time.Second))
		if err != nil {
			t.Fatalf("ledger %d: Balance: %v", i, err)
		}
		if !b.Spent.Equal(sum) || !b.Reserved.IsZero() {
			t.Errorf("ledger %d: Balance spent %s reserved %s, want spent %s reserved 0", i, b.Spent, b.Reserved, sum)
		}
	}
}
