package selector

import (
	"slices"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// Tier is a public alias with its default band and its routes, sorted by
// visible total ascending, then route id (byte order).
type Tier struct {
	Alias    string // "cpen/middle"
	Level    string // "middle"
	Status   config.TierStatus
	MinTotal decimal.Decimal // band: default min_total_per_1m
	MaxTotal decimal.Decimal // band: default max_total_per_1m
	// AliasJSON is the alias as a JSON string, for answers that name it.
	AliasJSON []byte

	minFixed, maxFixed int64
	cheapestReason     string // the common reason text, built once
	cheapestReasonJSON []byte
	routes             []*Route
	fx                 []fixedRoute // parallel to routes
	blocks             []blockMin   // per blockSize routes of fx
}

// Routes returns the tier's routes in price order (a copy of the slice).
func (t *Tier) Routes() []*Route {
	if t == nil {
		return nil
	}
	return slices.Clone(t.routes)
}

// LiveCount counts the tier's live routes: status live and not Down
// (a route at its provider's RPM limit is live). A nil tier has none.
func (t *Tier) LiveCount(h Health) int {
	if t == nil {
		return 0
	}
	n := 0
	for i := range t.fx {
		if t.isLive(i, h) {
			n++
		}
	}
	return n
}

// CheapestLive returns the live route (status live, not Down) with the
// lowest visible total, ties by route id.
func (t *Tier) CheapestLive(h Health) (*Route, bool) {
	if t == nil {
		return nil, false
	}
	for i := range t.fx {
		if t.isLive(i, h) {
			return t.routes[i], true
		}
	}
	return nil, false
}

func (t *Tier) isLive(i int, h Health) bool {
	f := &t.fx[i]
	return f.live && !routeHealth(h, f.health).Down
}

// totalRange returns [lo, hi): the routes with minTot ≤ visible total ≤
// maxTot, by binary search on the monotone floor and ceil values.
func (t *Tier) totalRange(minTot, maxTot int64) (lo, hi int) {
	fx := t.fx
	lo, hi = 0, len(fx)
	for lo < hi { // first index with totFloor ≥ minTot
		m := int(uint(lo+hi) >> 1)
		if fx[m].totFloor >= minTot {
			hi = m
		} else {
			lo = m + 1
		}
	}
	start := lo
	lo, hi = start, len(fx)
	for lo < hi { // first index with totCeil > maxTot
		m := int(uint(lo+hi) >> 1)
		if fx[m].totCeil > maxTot {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return start, lo
}

// blockSize routes share one blockMin, so a scan can skip a block in which
// no route meets the input or output cap (a cap below every route's input
// price would otherwise scan the whole tier).
const blockSize = 64

// blockMin holds the lowest input and output ceilings of a block.
type blockMin struct{ in, out int64 }

func (t *Tier) buildBlocks() {
	t.blocks = make([]blockMin, (len(t.fx)+blockSize-1)/blockSize)
	for b := range t.blocks {
		m := blockMin{in: t.fx[b*blockSize].inCeil, out: t.fx[b*blockSize].outCeil}
		for _, f := range t.fx[b*blockSize : min((b+1)*blockSize, len(t.fx))] {
			m.in, m.out = min(m.in, f.inCeil), min(m.out, f.outCeil)
		}
		t.blocks[b] = m
	}
}

// nextCandidate returns i, or the first index of a later block when no
// route from i to the end of its block can meet the per-direction caps.
func (t *Tier) nextCandidate(i int, c *caps) int {
	for b := i / blockSize; b < len(t.blocks); b++ {
		if m := t.blocks[b]; m.in <= c.maxIn && m.out <= c.maxOut {
			return max(i, b*blockSize)
		}
	}
	return len(t.fx)
}
