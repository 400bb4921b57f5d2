package chat

import "testing"

// The unknown-model detail names the aliases of the catalog in force.
func TestOrList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "an alias of the catalog"},
		{[]string{"cpen/low"}, "cpen/low"},
		{[]string{"cpen/low", "cpen/high"}, "cpen/low or cpen/high"},
		{[]string{"cpen/low", "cpen/middle", "cpen/high"}, "cpen/low, cpen/middle or cpen/high"},
	} {
		if got := orList(tc.in); got != tc.want {
			t.Errorf("orList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
