package chat

import (
	"bytes"
	"testing"
)

// indexFold agrees with a plain lower-cased search, for every case mix.
func TestIndexFold(t *testing.T) {
	tests := []struct {
		s, sub string
		want   int
	}{
		{"Prov_A edge", "prov_a", 0},
		{"gw.PROV_A.example", "prov_a", 3},
		{"xprov_", "prov_a", -1},
		{"pPROV_a", "prov_a", 1},
		{"", "prov_a", -1},
		{"prov_a", "prov_a", 0},
		{"nothing here", "prov_a", -1},
		{"1.1 Prov_A-gw", "PROV_A", 4},
	}
	for _, tc := range tests {
		if got := indexFold([]byte(tc.s), tc.sub); got != tc.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", tc.s, tc.sub, got, tc.want)
		}
	}
}

func FuzzIndexFold(f *testing.F) {
	f.Add([]byte("Via: 1.1 PROV_A"), "prov_a")
	f.Fuzz(func(t *testing.T, s []byte, sub string) {
		want := bytes.Index(lowerBytes(s), lowerBytes([]byte(sub)))
		if sub == "" {
			want = -1
		}
		if got := indexFold(s, sub); got != want {
			t.Fatalf("indexFold(%q, %q) = %d, want %d", s, sub, got, want)
		}
	})
}

// lowerBytes lower-cases ASCII letters byte by byte, leaving every other
// byte (valid UTF-8 or not) as it is.
func lowerBytes(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
