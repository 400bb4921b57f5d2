package redisstate

import (
	"errors"
	"testing"

	"github.com/cpen/router/selector/state"
)

func TestSplitUp(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want money
	}{
		{"zero", "0", money{}},
		{"one unit", "0.000000000000000001", money{lo: 1}},
		{"below a unit rounds up", "0.0000000000000000001", money{lo: 1}},
		{"just above a unit rounds up", "0.0000000000000000010000001", money{lo: 2}},
		{"a micro-USD", "0.000001", money{hi: 1}},
		{"micro and units", "0.000001999999999999", money{hi: 1, lo: 999_999_999_999}},
		{"a price per token", "0.00000168", money{hi: 1, lo: 680_000_000_000}},
		{"whole dollars", "25", money{hi: 25_000_000}},
		{"a billion", "1000000000", money{hi: maxHi}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitUp(usd(tt.in))
			if err != nil || got != tt.want {
				t.Fatalf("splitUp(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if exact := usd(tt.in).Round(unitExp).Equal(usd(tt.in)); exact && !got.decimal().Equal(usd(tt.in)) {
				t.Errorf("%+v reads back as %s, want %s", got, got.decimal(), tt.in)
			}
		})
	}
	for _, in := range []string{"-0.000000000000000001", "-1", "1000000000.000001", "1e30"} {
		if got, err := splitUp(usd(in)); !errors.Is(err, state.ErrBadAmount) {
			t.Errorf("splitUp(%s) = %+v, %v; want ErrBadAmount", in, got, err)
		}
	}
}

func TestSplitCredit(t *testing.T) {
	tests := []struct {
		in   string
		want money
	}{
		{"0", money{}},
		{"0.0000000000000000019", money{lo: 1}}, // rounds down
		{"0.000002", money{hi: 2}},
		{"25", money{hi: 25_000_000}},
		{"-0.0000000000000000001", money{hi: -1, lo: loSpan - 1}}, // down, below zero
		{"-0.000001", money{hi: -1}},
		{"1e12", money{hi: maxHi}},
		{"-1e12", money{hi: -maxHi}},
	}
	for _, tt := range tests {
		if got := splitCredit(usd(tt.in)); got != tt.want {
			t.Errorf("splitCredit(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if got := (money{hi: -1, lo: loSpan - 1}).decimal(); !got.Equal(usd("-0.000000000000000001")) {
		t.Errorf("decimal of just below zero = %s", got)
	}
}

func TestParseAdmit(t *testing.T) {
	const oldest = "1772366400000000001"
	ok := []struct {
		name string
		res  []any
		want admitReply
	}{
		{"no window, reserved", []any{int64(1), int64(0), "", int64(1), int64(5), int64(6), int64(7), int64(8)},
			admitReply{window: windowReply{allowed: true}, reserved: true, spent: money{5, 6}, onReserved: money{7, 8}}},
		{"refused for credit", []any{int64(1), int64(1), oldest, int64(0), int64(-1), int64(0), int64(0), int64(0)},
			admitReply{window: windowReply{allowed: true, n: 1, oldest: 1772366400000000001}, spent: money{hi: -1}}},
	}
	for _, tc := range ok {
		got, err := parseAdmit(tc.res)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	bad := []struct {
		name string
		res  []any
	}{
		{"seven values", []any{int64(1), int64(0), "", int64(1), int64(5), int64(6), int64(7)}},
		{"bad window", []any{int64(1), int64(1), "", int64(1), int64(5), int64(6), int64(7), int64(8)}},
		{"reserved on a denial", []any{int64(0), int64(1), oldest + oldest, int64(1), int64(0), int64(0), int64(0), int64(0)}},
		{"reserved 2", []any{int64(1), int64(0), "", int64(2), int64(0), int64(0), int64(0), int64(0)}},
		{"lo out of range", []any{int64(1), int64(0), "", int64(1), int64(0), int64(loSpan), int64(0), int64(0)}},
		{"negative lo", []any{int64(1), int64(0), "", int64(1), int64(0), int64(0), int64(0), int64(-1)}},
		{"string amount", []any{int64(1), int64(0), "", int64(1), "5", int64(0), int64(0), int64(0)}},
	}
	for _, tc := range bad {
		if _, err := parseAdmit(tc.res); !errors.Is(err, errBadReply) {
			t.Errorf("%s: err = %v, want errBadReply", tc.name, err)
		}
	}
}
