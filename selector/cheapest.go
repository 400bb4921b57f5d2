package selector

// selectCheapest picks the fitting available route with the lowest visible
// total; among equal totals the healthier (lower error rate, then lower
// latency), then the lower route id. It stops after the first price level
// that has a fitting route.
func (t *Tier) selectCheapest(c *caps, lo, hi int, h Health, out *Decision) bool {
	best := -1
	var bestH RouteHealth
	for i := lo; i < hi; i++ {
		if i == lo || i%blockSize == 0 {
			if i = t.nextCandidate(i, c); i >= hi {
				break
			}
		}
		f := &t.fx[i]
		if best >= 0 && f.rank != t.fx[best].rank {
			break
		}
		if !f.live || !c.fitsInOut(f) {
			continue
		}
		rh := routeHealth(h, f.health)
		if !rh.available() {
			continue
		}
		if best < 0 || rh.healthier(bestH) {
			best, bestH = i, rh
		}
	}
	if best < 0 {
		return false
	}
	out.Route = t.routes[best]
	out.ReasonCode = ReasonCheapestFit
	out.cheapest = true
	return true
}
