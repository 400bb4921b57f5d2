package selector

import (
	"errors"

	"github.com/cpen/router/config"
)

// Sentinel errors of Select and NewIndex. Select returns them wrapped in an
// *Error that names the tier; match them with errors.Is.
var (
	// ErrUnknownModel: the alias names no tier (HTTP 400).
	ErrUnknownModel = errors.New("selector: unknown model")
	// ErrTierUnavailable: the tier is planned or in outage, or none of its
	// routes is live (HTTP 503).
	ErrTierUnavailable = errors.New("selector: tier unavailable")
	// ErrNoRouteUnderCap: no live route fits the caps (HTTP 402).
	ErrNoRouteUnderCap = errors.New("selector: no route available under budget")
	// ErrInvalidRequest: a cap or an enum value the request parser should
	// have rejected (a caller bug, never client input that passed parsing).
	ErrInvalidRequest = errors.New("selector: invalid request")
	// ErrInvalidCatalog: NewIndex cannot compile the catalog.
	ErrInvalidCatalog = errors.New("selector: invalid catalog")
)

// Error is a selection failure for one tier alias.
type Error struct {
	Err   error  // one of the sentinels above
	Alias string // the requested alias
	// Known are the aliases of the catalog in force, in catalog order,
	// set with ErrUnknownModel so the answer can say what exists.
	Known []string
	// Status is the tier's catalog status, set with ErrTierUnavailable:
	// planned (no retry can help) or outage / available with no live
	// route (a retry later may succeed).
	Status config.TierStatus
}

func (e *Error) Error() string {
	if e.Alias == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Alias
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }
