package extproc

import (
	"context"
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector/state"
)

// errNoLedger: the server was given a rate limiter but no credit ledger
// that admits in its windows.
var errNoLedger = errors.New("no credit ledger configured with this rate limiter")

// noLedger refuses every credit call, so a key with credit is answered 503
// rather than served without a ledger.
type noLedger struct{}

var _ CreditLedger = noLedger{}

func (noLedger) AdmitReserve(context.Context, string, int, state.Hold, time.Time) (state.Admission, state.Reservation, error) {
	return state.Admission{}, state.Reservation{}, errNoLedger
}

func (noLedger) Settle(context.Context, state.Reservation, decimal.Decimal, time.Time) error {
	return errNoLedger
}

func (noLedger) Renew(context.Context, state.Reservation, time.Time) error { return errNoLedger }

func (noLedger) Balance(context.Context, string, time.Time) (state.Balance, error) {
	return state.Balance{}, errNoLedger
}
