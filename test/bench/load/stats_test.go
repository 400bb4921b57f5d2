package load

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	seq := func(n int) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(i + 1)
		}
		return s
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", []time.Duration{7}, 99, 7},
		{"p50 of 100", seq(100), 50, 50},
		{"p90 of 100", seq(100), 90, 90},
		{"p99 of 100", seq(100), 99, 99},
		{"max of 100", seq(100), 100, 100},
		{"p99 of 10 is the max", seq(10), 99, 10},
		{"p50 of 2 is the lower", seq(2), 50, 1},
		{"p50 of 3", seq(3), 50, 2},
		{"p99 of 1000", seq(1000), 99, 990},
		{"p0 is the min", seq(5), 0, 1},
		{"above 100 is the max", seq(5), 150, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSorts(t *testing.T) {
	lat := []time.Duration{5, 1, 4, 2, 3}
	got := Summarize(lat)
	if want := (Latency{P50: 3, P90: 5, P99: 5, Max: 5}); got != want {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	if lat[0] != 1 || lat[4] != 5 {
		t.Errorf("not sorted in place: %v", lat)
	}
}
