package selector

import "github.com/shopspring/decimal"

// Strategy says how to choose among fitting routes.
type Strategy uint8

// Strategies. The zero value is the default, balanced.
const (
	// StrategyBalanced weighs price with observed health,
	//
	//	score = visible_total × (1 + 2·error_rate) × (1 + latency_seconds/10)
	//
	// and picks Spread mod n among the n fitting routes whose score is
	// within 2% of the best one (in price order). Reason code balanced_fit.
	StrategyBalanced Strategy = iota
	// StrategyCheapest picks the lowest visible total; ties go to the lower
	// error rate, then the lower latency, then the lower route id. Reason
	// code cheapest_fit.
	StrategyCheapest
	// StrategyContinuity keeps the route pinned for (key, alias) while it
	// fits and is available; when it no longer does, ContinuityMode says
	// what happens. See Select.
	StrategyContinuity
)

func (s Strategy) String() string {
	switch s {
	case StrategyBalanced:
		return "balanced"
	case StrategyCheapest:
		return "cheapest"
	case StrategyContinuity:
		return "continuity"
	}
	return "unknown"
}

// ParseStrategy maps a routing.strategy name to its Strategy.
func ParseStrategy(s string) (Strategy, bool) {
	switch s {
	case "balanced":
		return StrategyBalanced, true
	case "cheapest":
		return StrategyCheapest, true
	case "continuity":
		return StrategyContinuity, true
	}
	return 0, false
}

// ContinuityMode says what continuity does when the pin no longer fits.
type ContinuityMode uint8

// Continuity modes. The zero value is the default, stay_within_cap.
const (
	ModeStayWithinCap ContinuityMode = iota
	ModeTemporaryEscalation
)

func (m ContinuityMode) String() string {
	switch m {
	case ModeStayWithinCap:
		return "stay_within_cap"
	case ModeTemporaryEscalation:
		return "temporary_escalation"
	}
	return "unknown"
}

// ParseContinuityMode maps a routing.continuity_mode name to its mode.
func ParseContinuityMode(s string) (ContinuityMode, bool) {
	switch s {
	case "stay_within_cap":
		return ModeStayWithinCap, true
	case "temporary_escalation":
		return ModeTemporaryEscalation, true
	}
	return 0, false
}

// Bound is one client-sent cap, in USD per 1M tokens.
type Bound struct {
	Set   bool
	Value decimal.Decimal
}

// Request is what Select needs from one client request.
type Request struct {
	Alias string
	// Client caps. Unset MaxTotal and MinTotal default to the tier band.
	MaxInput, MaxOutput, MaxTotal, MinTotal Bound
	Strategy                                Strategy
	Mode                                    ContinuityMode
	AllowTemporaryHighPrice                 bool
	// Pin is the continuity pin for (key, alias), nil if none. It is read
	// only when Strategy is StrategyContinuity.
	Pin *Pin
	// Spread is caller-provided randomness (for example a hash of the request
	// id) that spreads load over near-equal routes.
	Spread uint64
}

// Pin is a continuity pin as it was when last served.
type Pin struct {
	RouteID      string
	ModelFamily  string
	VisibleTotal decimal.Decimal
}

// EscalationAllowed reports whether the request permits a one-shot
// escalation above its cap; clients see it as cpen_route.escalation_allowed.
func (r *Request) EscalationAllowed() bool {
	return r.Strategy == StrategyContinuity && r.Mode == ModeTemporaryEscalation && r.AllowTemporaryHighPrice
}
