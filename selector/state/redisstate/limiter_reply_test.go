package redisstate

import (
	"errors"
	"testing"
)

func TestParseWindow(t *testing.T) {
	const (
		oldest = "1772366400000000001"
		free   = "1772366401000000002"
	)
	ok := []struct {
		name string
		res  []any
		want windowReply
	}{
		{"empty", []any{int64(1), int64(0), ""}, windowReply{allowed: true}},
		{"allowed", []any{int64(1), int64(2), oldest}, windowReply{allowed: true, n: 2, oldest: 1772366400000000001}},
		{"denied", []any{int64(0), int64(3), oldest + free},
			windowReply{n: 3, oldest: 1772366400000000001, free: 1772366401000000002}},
	}
	for _, tc := range ok {
		got, err := parseWindow(tc.res)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	bad := []struct {
		name string
		res  []any
	}{
		{"four values", []any{int64(1), int64(1), oldest, ""}},
		{"two values", []any{int64(1), int64(1)}},
		{"string count", []any{int64(1), "1", oldest}},
		{"allowed with no oldest", []any{int64(1), int64(1), ""}},
		{"denied without free", []any{int64(0), int64(1), oldest}},
		{"empty with a time", []any{int64(1), int64(0), oldest}},
		{"not digits", []any{int64(0), int64(1), oldest + "x766401000000000002"}},
	}
	for _, tc := range bad {
		if _, err := parseWindow(tc.res); !errors.Is(err, errBadReply) {
			t.Errorf("%s: err = %v, want errBadReply", tc.name, err)
		}
	}
}
