package state_test

import (
	"testing"
	"time"

	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/statetest"
)

// The interface the ext_proc server declares for the credit ledger.
var _ statetest.CreditLedger = (*state.Ledger)(nil)

func TestLedgerConformance(t *testing.T) {
	statetest.Ledger(t, func(t *testing.T, ttl time.Duration) (statetest.CreditLedger, statetest.RateLimiter) {
		l := state.NewLimiter()
		return state.NewLedger(l, state.WithReservationTTL(ttl)), l
	})
}

// 400 requests at once for an account whose credit covers 50: exactly 50
// reserved, and settling them all leaves exactly the sum of their costs.
func TestLedgerConcurrent(t *testing.T) {
	statetest.ConcurrentReserve(t, []statetest.CreditLedger{state.NewLedger(state.NewLimiter())}, 400, 50)
}
