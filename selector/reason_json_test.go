package selector

import (
	"encoding/json"
	"testing"
)

// ReasonJSON, where it has one, is Reason quoted: the texts built once per
// catalog say exactly what Reason says.
func TestReasonJSONIsReasonQuoted(t *testing.T) {
	r := &Route{ID: "route_a", pinnedReason: pinnedReason("route_a")}
	r.pinnedReasonJSON = jsonString(r.pinnedReason)
	tier := &Tier{Alias: "cpen/middle", Level: "middle", cheapestReason: sentence(cheapestClause("middle"))}
	tier.cheapestReasonJSON = jsonString(tier.cheapestReason)
	r.bestReasonJSON = jsonString(sentence(bestClause(r.ID, tier.Level)))
	for _, d := range []Decision{
		{Tier: tier, Route: r, ReasonCode: ReasonCheapestFit, cheapest: true},
		{Tier: tier, Route: r, ReasonCode: ReasonBalancedFit, cheapest: true},
		{Tier: tier, Route: r, ReasonCode: ReasonBalancedFit, near: 1},
		{Tier: tier, Route: r, ReasonCode: ReasonBalancedFit},
		{Tier: tier, Route: r, ReasonCode: ReasonContinuityPinned},
	} {
		got := d.ReasonJSON()
		if got == nil {
			t.Fatalf("%s: no precomputed reason", d.ReasonCode)
		}
		var s string
		if err := json.Unmarshal(got, &s); err != nil || s != d.Reason() {
			t.Errorf("%s: ReasonJSON %s, Reason %q", d.ReasonCode, got, d.Reason())
		}
	}
	if d := (Decision{Tier: tier, Route: r, ReasonCode: ReasonBalancedFit, near: 3}); d.ReasonJSON() != nil {
		t.Error("a reason with a count has a precomputed text")
	}
}
