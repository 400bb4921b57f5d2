package selector

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// Index is a compiled catalog: tiers by alias, routes by id, each tier's
// routes in price order with precomputed fixed-point prices. It is immutable
// and safe for concurrent use.
type Index struct {
	tiers    []*Tier
	byAlias  map[string]*Tier
	routes   []*Route
	byID     map[string]*Route
	families map[string]int32
}

// NewIndex compiles a catalog that config.Load accepted (or one built by
// the same rules): catalog checks are config's, and NewIndex does not
// repeat them. It fails only where it cannot build the index, each problem
// wrapping ErrInvalidCatalog: a band without a fixed-point form, a route
// naming a tier level the catalog lacks, a currency without a USD rate.
func NewIndex(cat *config.Catalog) (*Index, error) {
	if cat == nil {
		return nil, fmt.Errorf("%w: no catalog", ErrInvalidCatalog)
	}
	ix := &Index{
		byAlias:  make(map[string]*Tier, len(cat.Tiers)),
		byID:     make(map[string]*Route, len(cat.Routes)),
		families: make(map[string]int32),
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidCatalog}, args...)...))
	}
	byLevel := make(map[string]*Tier, len(cat.Tiers))
	for i := range cat.Tiers {
		t, err := newTier(&cat.Tiers[i])
		if err != nil {
			bad("tier %q: %v", cat.Tiers[i].Alias, err)
			continue
		}
		ix.byAlias[t.Alias] = t
		byLevel[t.Level] = t
		ix.tiers = append(ix.tiers, t)
	}
	for i := range cat.Routes {
		cr := &cat.Routes[i]
		t, ok := byLevel[cr.Tier]
		if !ok {
			bad("route %q: no tier with level %q", cr.ID, cr.Tier)
			continue
		}
		rate, err := usdRate(cat.USDRates, currencyOf(cr))
		if err != nil {
			bad("route %q: %v", cr.ID, err)
			continue
		}
		r := newRoute(cr, rate, cat.FeeRate, cat.InputShare)
		r.Index = len(ix.routes)
		r.tier = t
		r.bestReasonJSON = jsonString(sentence(bestClause(r.ID, t.Level)))
		ix.routes = append(ix.routes, r)
		ix.byID[r.ID] = r
		t.routes = append(t.routes, r)
		if _, ok := ix.families[r.ModelFamily]; !ok {
			ix.families[r.ModelFamily] = int32(len(ix.families))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, t := range ix.tiers {
		ix.compileTier(t)
	}
	return ix, nil
}

func newTier(ct *config.Tier) (*Tier, error) {
	t := &Tier{
		Alias: ct.Alias, Level: ct.Level, Status: ct.Status,
		MinTotal: ct.MinTotal, MaxTotal: ct.MaxTotal,
	}
	var ok bool
	if t.minFixed, ok = ToFixed(ct.MinTotal); !ok {
		return nil, fmt.Errorf("band min %s is not a valid price", ct.MinTotal.String())
	}
	if t.maxFixed, ok = ToFixed(ct.MaxTotal); !ok {
		return nil, fmt.Errorf("band max %s is not a valid price", ct.MaxTotal.String())
	}
	t.cheapestReason = sentence(cheapestClause(t.Level))
	t.AliasJSON = jsonString(t.Alias)
	t.cheapestReasonJSON = jsonString(t.cheapestReason)
	return t, nil
}

func usdRate(rates map[string]decimal.Decimal, currency string) (decimal.Decimal, error) {
	if r, ok := rates[currency]; ok {
		return r, nil
	}
	if currency == "USD" {
		return decimal.New(1, 0), nil
	}
	return decimal.Decimal{}, fmt.Errorf("currency %q has no USD rate", currency)
}

// currencyOf is the route's currency, USD by default.
func currencyOf(cr *config.Route) string {
	if cr.Currency == "" {
		return "USD"
	}
	return cr.Currency
}

func newRoute(cr *config.Route, rate, fee, share decimal.Decimal) *Route {
	currency := currencyOf(cr)
	p := computePrices(cr.InputPer1M, cr.OutputPer1M, rate, fee, share)
	r := &Route{
		ID: cr.ID, Level: cr.Tier, ProviderName: cr.Provider, Model: cr.Model,
		ModelFamily: cr.ModelFamily, Currency: currency, Status: cr.Status, RPMLimit: cr.RPMLimit,
		InputPer1M: cr.InputPer1M, OutputPer1M: cr.OutputPer1M,
		InputUSD: p.inputUSD, OutputUSD: p.outputUSD,
		VisibleInput: p.visibleInput, VisibleOutput: p.visibleOutput, VisibleTotal: p.visibleTotal,
		EstimatedCost: p.estimatedCost, EstimatedTotal: p.estimatedTotal,
		FeeRate: fee,
	}
	r.MetaJSON = buildMetaJSON(r)
	r.EstimatedTotalText = FormatPrice(r.EstimatedTotal)
	r.ModelJSON = jsonString(r.Model)
	r.pinnedReason = pinnedReason(r.ID)
	r.pinnedReasonJSON = jsonString(r.pinnedReason)
	r.setFixedCost()
	return r
}

// compileTier sorts a tier's routes by visible total, then id, and builds
// the parallel fixed-point slice.
func (ix *Index) compileTier(t *Tier) {
	slices.SortFunc(t.routes, func(a, b *Route) int {
		if c := a.VisibleTotal.Cmp(b.VisibleTotal); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	t.fx = make([]fixedRoute, len(t.routes))
	rank := int32(-1)
	for i, r := range t.routes {
		r.pos = i
		if i == 0 || !r.VisibleTotal.Equal(t.routes[i-1].VisibleTotal) {
			rank++
		}
		t.fx[i] = newFixedRoute(r, ix.families[r.ModelFamily])
		t.fx[i].rank = rank
	}
	t.buildBlocks()
}

// Tier returns the tier with this alias.
func (ix *Index) Tier(alias string) (*Tier, bool) {
	t, ok := ix.byAlias[alias]
	return t, ok
}

// TierBytes is Tier for an alias held in bytes (a request body), without
// allocating.
func (ix *Index) TierBytes(alias []byte) (*Tier, bool) {
	t, ok := ix.byAlias[string(alias)]
	return t, ok
}

// Aliases returns the tiers' aliases in catalog order.
func (ix *Index) Aliases() []string {
	out := make([]string, len(ix.tiers))
	for i, t := range ix.tiers {
		out[i] = t.Alias
	}
	return out
}

// Tiers returns the tiers in catalog order (a copy of the slice).
func (ix *Index) Tiers() []*Tier { return slices.Clone(ix.tiers) }

// RouteByID returns the route with this id.
func (ix *Index) RouteByID(id string) (*Route, bool) {
	r, ok := ix.byID[id]
	return r, ok
}

// Routes returns every route in catalog order, so that Routes()[i].Index ==
// i (a copy of the slice).
func (ix *Index) Routes() []*Route { return slices.Clone(ix.routes) }

// NumRoutes is len(Routes()) without the copy: the size of health state.
func (ix *Index) NumRoutes() int { return len(ix.routes) }

// LiveCount is t.LiveCount(h), for status endpoints.
func (ix *Index) LiveCount(t *Tier, h Health) int { return t.LiveCount(h) }

// CheapestLive is t.CheapestLive(h), for status endpoints.
func (ix *Index) CheapestLive(t *Tier, h Health) (*Route, bool) { return t.CheapestLive(h) }
