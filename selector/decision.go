package selector

import "github.com/shopspring/decimal"

// Reason codes, sent to clients as cpen_route.reason_code: stable for
// clients and metrics.
const (
	ReasonCheapestFit         = "cheapest_fit"
	ReasonBalancedFit         = "balanced_fit"
	ReasonContinuityNewPin    = "continuity_new_pin"
	ReasonContinuityPinned    = "continuity_pinned"
	ReasonContinuityRepinned  = "continuity_repinned"
	ReasonContinuityEscalated = "continuity_escalated"
)

// Decision is the outcome of Select. The caller owns it and may reuse it:
// Select overwrites every field.
type Decision struct {
	Tier       *Tier
	Route      *Route
	ReasonCode string // one of the Reason* constants
	// Escalated: served above its cap (continuity_escalated).
	Escalated bool
	// EscalationAllowed: strategy continuity, mode temporary_escalation and
	// allow_temporary_high_price, whether or not escalation was used.
	EscalationAllowed bool
	// SetsPin: on success the caller stores or refreshes the pin for (key,
	// alias) with Route (continuity only).
	SetsPin bool

	// What Reason needs, recorded without allocating.
	cheapest   bool        // Route has the lowest visible total among fitting routes
	near       int         // balanced: how many near-equal routes Spread chose among
	foreignPin string      // continuity: the pin named a route of another tier
	left       string      // continuity: the pinned route left or escalated
	leftRoute  *Route      // the same, nil when gone from the catalog
	why        leaveReason // why the pinned route was not served normally
	bound      boundKind   // which cap the pinned route failed
	capValue   decimal.Decimal
}

// leaveReason says why a pinned route could not be kept.
type leaveReason uint8

const (
	leaveNone leaveReason = iota
	leavePaused
	leaveDown
	leavePrice
	leaveCapacity
	leaveGone
)

// boundKind names one cap of a request.
type boundKind uint8

const (
	boundNone boundKind = iota
	boundTotal
	boundInput
	boundOutput
	boundFloor
)
