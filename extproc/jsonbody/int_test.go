package jsonbody

import (
	"strconv"
	"testing"
)

func TestIntLiteral(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7, true},
		{"1000000", 1000000, true},
		{"999999999", 999999999, true},
		{"1000000000", 0, false}, // ten digits
		{"", 0, false},
		{"01", 0, false},
		{"-1", 0, false},
		{"2.5", 0, false},
		{"6e1", 0, false},
		{`"5"`, 0, false},
	} {
		got, ok := IntLiteral([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("IntLiteral(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// IntLiteral accepts exactly the canonical decimal renderings of 0 to
// 999,999,999, and reads them as strconv does.
func FuzzIntLiteral(f *testing.F) {
	for _, s := range []string{"0", "12", "007", "-3", "1e3", "123456789", "1234567890"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := IntLiteral([]byte(s))
		n, err := strconv.Atoi(s)
		canonical := err == nil && n >= 0 && n <= 999999999 && strconv.Itoa(n) == s
		if ok != canonical || (ok && got != n) {
			t.Fatalf("IntLiteral(%q) = %d, %v; strconv reads %d, %v", s, got, ok, n, err)
		}
	})
}
