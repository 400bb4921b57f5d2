package load

import (
	"math"
	"slices"
	"time"
)

// Latency summarises the latencies of one run.
type Latency struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the smallest value with at
// least p percent of the values at or below it. It returns 0 for an empty
// slice; p <= 0 gives the minimum, p >= 100 the maximum.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// p*n is exact for integer p, so an exact rank is not pushed up by rounding.
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Summarize sorts lat in place and returns its percentiles.
func Summarize(lat []time.Duration) Latency {
	slices.Sort(lat)
	return Latency{
		P50: Percentile(lat, 50),
		P90: Percentile(lat, 90),
		P99: Percentile(lat, 99),
		Max: Percentile(lat, 100),
	}
}
