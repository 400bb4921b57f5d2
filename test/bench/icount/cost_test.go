package icount

import (
	"errors"
	"testing"
)

func TestPerExchangeCost(t *testing.T) {
	tests := []struct {
		name        string
		short, long Sample
		want        Cost
		perExchange uint64
		wantErr     error
	}{
		{name: "fixed costs cancel", short: Sample{Exchanges: 200, Ir: 10_000_000 + 200*250_000},
			long: Sample{Exchanges: 3000, Ir: 10_000_000 + 3000*250_000},
			want: Cost{Instructions: 2800 * 250_000, Exchanges: 2800}, perExchange: 250_000},
		{name: "rounds down below a half", short: Sample{Exchanges: 1, Ir: 100}, long: Sample{Exchanges: 4, Ir: 110},
			want: Cost{Instructions: 10, Exchanges: 3}, perExchange: 3},
		{name: "rounds a half up", short: Sample{Exchanges: 1, Ir: 100}, long: Sample{Exchanges: 5, Ir: 110},
			want: Cost{Instructions: 10, Exchanges: 4}, perExchange: 3},
		{name: "rounds up above a half", short: Sample{Exchanges: 1, Ir: 100}, long: Sample{Exchanges: 4, Ir: 111},
			want: Cost{Instructions: 11, Exchanges: 3}, perExchange: 4},
		{name: "counts past 2^63", short: Sample{Exchanges: 1, Ir: 1}, long: Sample{Exchanges: 2, Ir: 1<<64 - 1},
			want: Cost{Instructions: 1<<64 - 2, Exchanges: 1}, perExchange: 1<<64 - 2},
		{name: "as many exchanges", short: Sample{Exchanges: 10, Ir: 1}, long: Sample{Exchanges: 10, Ir: 2}, wantErr: ErrNotLonger},
		{name: "swapped", short: Sample{Exchanges: 30, Ir: 9}, long: Sample{Exchanges: 10, Ir: 3}, wantErr: ErrNotLonger},
		{name: "fewer instructions", short: Sample{Exchanges: 10, Ir: 9}, long: Sample{Exchanges: 30, Ir: 8}, wantErr: ErrFewerInstructions},
		{name: "misses cancel as instructions do",
			short: Sample{Exchanges: 200, Ir: 1000, Misses: Misses{L1i: 5000 + 200*7, L1d: 900 + 200*4, LL: 40 + 200}},
			long:  Sample{Exchanges: 3000, Ir: 9000, Misses: Misses{L1i: 5000 + 3000*7, L1d: 900 + 3000*4, LL: 40 + 3000}},
			want:  Cost{Instructions: 8000, Exchanges: 2800, Misses: Misses{L1i: 2800 * 7, L1d: 2800 * 4, LL: 2800}}, perExchange: 3},
		{name: "fewer misses", short: Sample{Exchanges: 10, Ir: 9, Misses: Misses{L1i: 5, L1d: 5, LL: 5}},
			long: Sample{Exchanges: 30, Ir: 10, Misses: Misses{L1i: 6, L1d: 6, LL: 4}}, wantErr: ErrFewerMisses},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PerExchangeCost(tt.short, tt.long)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("cost = %+v, want %+v", got, tt.want)
			}
			if pe := got.PerExchange(); pe != tt.perExchange {
				t.Errorf("per exchange = %d, want %d", pe, tt.perExchange)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name           string
		sidecar, floor Cost
		want           string
		wantErr        error
	}{
		// 814,359,146/2800 over 625,008,146/2800 = 1.30296...
		{name: "same counts", sidecar: Cost{Instructions: 814_359_146, Exchanges: 2800},
			floor: Cost{Instructions: 625_008_146, Exchanges: 2800}, want: "1.30"},
		// (300/2) / (100/1) = 1.5: counts differ, the quotients are compared.
		{name: "different counts", sidecar: Cost{Instructions: 300, Exchanges: 2},
			floor: Cost{Instructions: 100, Exchanges: 1}, want: "1.50"},
		{name: "half rounds away from zero", sidecar: Cost{Instructions: 1005, Exchanges: 1},
			floor: Cost{Instructions: 1000, Exchanges: 1}, want: "1.01"},
		{name: "just below a half", sidecar: Cost{Instructions: 10049, Exchanges: 1},
			floor: Cost{Instructions: 10000, Exchanges: 1}, want: "1.00"},
		{name: "cheaper than the floor", sidecar: Cost{Instructions: 1, Exchanges: 3},
			floor: Cost{Instructions: 1, Exchanges: 1}, want: "0.33"},
		{name: "floor free", sidecar: Cost{Instructions: 1, Exchanges: 1}, floor: Cost{Exchanges: 1}, wantErr: ErrZeroFloor},
		{name: "floor without exchanges", sidecar: Cost{Instructions: 1, Exchanges: 1}, floor: Cost{Instructions: 1}, wantErr: ErrZeroFloor},
		{name: "sidecar without exchanges", sidecar: Cost{Instructions: 1}, floor: Cost{Instructions: 1, Exchanges: 1}, wantErr: ErrNotLonger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Ratio(tt.sidecar, tt.floor)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ratio = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMissesPerExchangeAndRatios(t *testing.T) {
	m := Misses{L1i: 10, L1d: 11, LL: 5}
	if got := m.per(4); got != (Misses{L1i: 3, L1d: 3, LL: 1}) {
		t.Errorf("per(4) = %+v, want {3 3 1} (10/4 rounds a half up, 11/4 down, 5/4 down)", got)
	}
	sidecar := Cost{Exchanges: 2, Misses: Misses{L1i: 2680, L1d: 1564, LL: 3}}
	floor := Cost{Exchanges: 1, Misses: Misses{L1i: 1000, L1d: 610}}
	if got := ratiosOf(sidecar, floor); got != (missRatios{L1i: "1.34", L1d: "1.28", LL: "-"}) {
		t.Errorf("ratios = %+v, want {1.34 1.28 -}: the floor has no last-level misses", got)
	}
}
