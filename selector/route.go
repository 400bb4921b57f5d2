package selector

import (
	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// Route is one compiled catalog route with its exact prices. Routes belong to
// an Index and are shared by concurrent requests: treat them as read-only.
type Route struct {
	ID           string
	Level        string // the tier level, e.g. "middle"
	ProviderName string
	Model        string // upstream model name; never shown to clients
	ModelFamily  string
	Currency     string
	Status       config.RouteStatus
	RPMLimit     int // provider requests per minute; 0 = unlimited
	// Index is dense over the whole catalog (0..N-1): the key of health state.
	Index int

	InputPer1M, OutputPer1M     decimal.Decimal // in Currency
	InputUSD, OutputUSD         decimal.Decimal // × usd_rate
	VisibleInput, VisibleOutput decimal.Decimal // × (1 + fee_rate)
	VisibleTotal                decimal.Decimal // visible input + visible output
	EstimatedCost               decimal.Decimal // share × input_usd + (1 − share) × output_usd
	EstimatedTotal              decimal.Decimal // estimated cost × (1 + fee_rate)
	FeeRate                     decimal.Decimal // the catalog's fee_rate

	// MetaJSON is the route's static cpen_route fields, from route_id to
	// estimated_total_usd_per_1m, without braces or outer commas.
	MetaJSON []byte
	// ModelJSON is Model as a JSON string, for the body sent upstream.
	ModelJSON []byte
	// EstimatedTotalText is EstimatedTotal as cpen_route prints it, for
	// the request's log metadata.
	EstimatedTotalText string

	// inFixed and outFixed are the visible prices in fixed-point form,
	// valid when costExact (see FixedCost).
	inFixed, outFixed int64
	costExact         bool

	tier         *Tier
	pos          int    // position in tier.routes
	pinnedReason string // the continuity_pinned reason text, built once
	// The common reason texts as JSON strings, built once (ReasonJSON).
	pinnedReasonJSON, bestReasonJSON []byte
}

// fixedRoute is the hot-loop view of a route: fixed-point prices (1e-12
// units, see ToFixed) and dense ids, kept in a slice parallel to
// Tier.routes.
type fixedRoute struct {
	inCeil, outCeil   int64 // ceil of visible input and output
	totFloor, totCeil int64 // floor and ceil of visible total
	price             float64
	health            int32 // Route.Index
	rank              int32 // equal exact visible totals share a rank
	family            int32
	live              bool // status live
	exact             bool // visible total is on the 1e-12 grid
}

func newFixedRoute(r *Route, family int32) fixedRoute {
	_, inCeil, _ := fixedBounds(r.VisibleInput)
	_, outCeil, _ := fixedBounds(r.VisibleOutput)
	lo, hi, exact := fixedBounds(r.VisibleTotal)
	return fixedRoute{
		inCeil: inCeil, outCeil: outCeil,
		totFloor: lo, totCeil: hi,
		price:  float64(hi),
		health: int32(r.Index),
		family: family,
		live:   r.Status == config.RouteLive,
		exact:  exact,
	}
}

// Alias is the public alias of the route's tier.
func (r *Route) Alias() string {
	if r.tier == nil {
		return ""
	}
	return r.tier.Alias
}
