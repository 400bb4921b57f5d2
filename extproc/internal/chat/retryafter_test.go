package chat

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{name: "absent", in: "", want: 0},
		{name: "seconds", in: "7", want: 7 * time.Second},
		{name: "zero", in: "0", want: 0},
		{name: "padded", in: " 12 ", want: 12 * time.Second},
		{name: "HTTP date", in: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		{name: "RFC 850 date", in: now.Add(time.Hour).Format(time.RFC850), want: time.Hour},
		{name: "date in the past", in: now.Add(-time.Second).Format(http.TimeFormat), want: 0},
		{name: "date now", in: now.Format(http.TimeFormat), want: 0},
		{name: "negative", in: "-5", want: 0},
		{name: "fraction", in: "1.5", want: 0},
		{name: "words", in: "soon", want: 0},
		{name: "huge", in: "99999999999999999999", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter([]byte(tt.in), now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
