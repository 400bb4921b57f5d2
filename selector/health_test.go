package selector

import (
	"math"
	"testing"
)

func TestScoreAndHealthOrder(t *testing.T) {
	tests := []struct {
		name  string
		h     RouteHealth
		score float64
	}{
		{name: "no data: the price", h: RouteHealth{}, score: 100},
		{name: "error rate doubles per unit", h: RouteHealth{ErrorRate: 0.5}, score: 200},
		{name: "latency adds a tenth per second", h: RouteHealth{LatencySeconds: 5}, score: 150},
		{name: "both multiply", h: RouteHealth{ErrorRate: 0.5, LatencySeconds: 5}, score: 300},
		{name: "error rate above 1 counts as 1", h: RouteHealth{ErrorRate: 7}, score: 300},
		{name: "negative and NaN count as 0", h: RouteHealth{ErrorRate: -1, LatencySeconds: math.NaN()}, score: 100},
		{name: "NaN error rate counts as 0", h: RouteHealth{ErrorRate: math.NaN(), LatencySeconds: -3}, score: 100},
		{name: "latency is capped", h: RouteHealth{LatencySeconds: math.Inf(1)}, score: 100 * (1 + 1e5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.score(100); math.Abs(got-tt.score) > 1e-9 {
				t.Errorf("score = %v, want %v", got, tt.score)
			}
		})
	}
	if !(RouteHealth{ErrorRate: 0.1}).healthier(RouteHealth{ErrorRate: 0.2, LatencySeconds: 0}) ||
		!(RouteHealth{LatencySeconds: 1}).healthier(RouteHealth{LatencySeconds: 2}) ||
		(RouteHealth{}).healthier(RouteHealth{}) {
		t.Error("healthier order")
	}
	if !nearEqual(102, 100) || nearEqual(102.0001, 100) {
		t.Error("nearEqual boundary")
	}
}
