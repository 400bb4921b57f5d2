package selector

import (
	"fmt"
	"strings"
)

// Reason is the free-text explanation of the decision, sent to clients as
// cpen_route.reason next to the stable reason code.
// It is built on demand and allocates; Select does not.
func (d *Decision) Reason() string {
	if d.Tier == nil || d.Route == nil {
		return ""
	}
	switch d.ReasonCode {
	case ReasonCheapestFit, ReasonBalancedFit:
		if d.cheapest {
			return d.Tier.cheapestReason
		}
		return sentence(d.fitClause())
	case ReasonContinuityNewPin:
		if d.foreignPin != "" {
			return fmt.Sprintf("The pinned route %s belongs to another tier; %s, and pinned it.", d.foreignPin, d.fitClause())
		}
		return fmt.Sprintf("No continuity pin yet for this key and model; %s, and pinned it.", d.fitClause())
	case ReasonContinuityPinned:
		return d.Route.pinnedReason
	case ReasonContinuityRepinned:
		return fmt.Sprintf("Route %s %s; moved to %s, the closest fitting route.", d.left, d.leaveClause(), d.Route.ID)
	case ReasonContinuityEscalated:
		return fmt.Sprintf("Route %s %s; kept it for this request at the higher price, as allow_temporary_high_price permits, and the pin stays.",
			d.left, d.leaveClause())
	}
	return ""
}

// ReasonJSON is Reason as a JSON string when the reason is one of the
// common texts built once per catalog (the cheapest fitting route, the
// best-scored balanced route, a kept pin); nil otherwise, for the caller
// to quote Reason itself.
func (d *Decision) ReasonJSON() []byte {
	if d.Tier == nil || d.Route == nil {
		return nil
	}
	switch d.ReasonCode {
	case ReasonCheapestFit, ReasonBalancedFit:
		switch {
		case d.cheapest:
			return d.Tier.cheapestReasonJSON
		case d.near <= 1:
			return d.Route.bestReasonJSON
		}
	case ReasonContinuityPinned:
		return d.Route.pinnedReasonJSON
	}
	return nil
}

// bestClause describes a balanced choice of the one best-scored route.
func bestClause(routeID, level string) string {
	return fmt.Sprintf("selected %s, the live %s-tier route inside the declared cap with the best price weighed with error rate and latency",
		routeID, level)
}

// fitClause describes a cheapest or balanced choice, starting lower-case.
func (d *Decision) fitClause() string {
	level := d.Tier.Level
	switch {
	case d.cheapest:
		return cheapestClause(level)
	case d.near > 1:
		return fmt.Sprintf("selected %s, one of %d live %s-tier routes inside the declared cap whose price weighed with error rate and latency is within 2%% of the best",
			d.Route.ID, d.near, level)
	}
	return bestClause(d.Route.ID, level)
}

// leaveClause says why the pinned route was not served as usual.
func (d *Decision) leaveClause() string {
	switch d.why {
	case leavePaused:
		return "is paused"
	case leaveDown:
		return "is down"
	case leaveCapacity:
		return "is at its provider's rate limit"
	case leaveGone:
		return "is no longer in the catalog"
	case leavePrice:
		return "no longer fits the declared cap (" + d.boundClause() + ")"
	}
	return "could not be kept"
}

func (d *Decision) boundClause() string {
	r, limit := d.leftRoute, FormatPrice(d.capValue)
	if r == nil {
		return "over " + limit
	}
	switch d.bound {
	case boundInput:
		return "visible input " + FormatPrice(r.VisibleInput) + " above " + limit
	case boundOutput:
		return "visible output " + FormatPrice(r.VisibleOutput) + " above " + limit
	case boundFloor:
		return "visible total " + FormatPrice(r.VisibleTotal) + " below the floor " + limit
	}
	return "visible total " + FormatPrice(r.VisibleTotal) + " above " + limit
}

// sentence capitalises an ASCII clause and ends it with a period.
func sentence(clause string) string {
	if clause == "" {
		return ""
	}
	return strings.ToUpper(clause[:1]) + clause[1:] + "."
}

func cheapestClause(level string) string {
	return "selected the cheapest live " + level + "-tier route inside the declared cap"
}

func pinnedReason(routeID string) string {
	return "Kept the pinned route " + routeID + ", which still fits the declared cap."
}
