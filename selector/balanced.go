package selector

// nearBuf is how many near-equal routes balanced remembers on the stack;
// with more it counts again to find the one Spread picks.
const nearBuf = 64

// selectBalanced picks among the fitting available routes whose score
// (RouteHealth.score) is within 2% of the best one, with Spread mod n, in
// price order. Scores are never below the price, so the scan stops at the
// first route whose plain price is more than 2% above the best score so far.
func (t *Tier) selectBalanced(c *caps, lo, hi int, h Health, spread uint64, out *Decision) bool {
	best, end := -1, hi
	var bestScore float64
	var cheapestRank int32
	for i := lo; i < hi; i++ {
		if i == lo || i%blockSize == 0 {
			if i = t.nextCandidate(i, c); i >= hi {
				break
			}
		}
		f := &t.fx[i]
		if best >= 0 && !nearEqual(f.price, bestScore) {
			end = i
			break
		}
		rh, ok := t.usable(i, c, h)
		if !ok {
			continue
		}
		s := rh.score(f.price)
		if best < 0 {
			cheapestRank = f.rank
			best, bestScore = i, s
		} else if s < bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return false
	}
	var buf [nearBuf]int32
	n := 0
	for i := lo; i < end; i++ {
		rh, ok := t.usable(i, c, h)
		if !ok || !nearEqual(rh.score(t.fx[i].price), bestScore) {
			continue
		}
		if n < nearBuf {
			buf[n] = int32(i)
		}
		n++
	}
	pick := best
	if n > 0 {
		k := int(spread % uint64(n))
		if k < nearBuf {
			pick = int(buf[k])
		} else {
			pick = t.nth(c, lo, end, h, bestScore, k, best)
		}
	}
	out.Route = t.routes[pick]
	out.cheapest = t.fx[pick].rank == cheapestRank
	out.near = n
	return true
}

// nth returns the k-th (from 0) near-equal route in [lo, end), or fallback
// when health changed under the scan and there is no k-th any more.
func (t *Tier) nth(c *caps, lo, end int, h Health, bestScore float64, k, fallback int) int {
	for i := lo; i < end; i++ {
		rh, ok := t.usable(i, c, h)
		if !ok || !nearEqual(rh.score(t.fx[i].price), bestScore) {
			continue
		}
		if k == 0 {
			return i
		}
		k--
	}
	return fallback
}

// usable reports whether route i (already inside the total bounds) fits the
// per-direction caps and is available, with its health.
func (t *Tier) usable(i int, c *caps, h Health) (RouteHealth, bool) {
	f := &t.fx[i]
	if !f.live || !c.fitsInOut(f) {
		return RouteHealth{}, false
	}
	rh := routeHealth(h, f.health)
	return rh, rh.available()
}
