package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// --check-config validates a catalog offline: exit 0 and a summary for a
// good file, non-zero and every located problem for a bad one.
func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		ok     bool
		output []string
	}{
		{"good", "testdata/catalog.yaml", true, []string{"testdata/catalog.yaml: ok (3 tiers, 2 providers, 5 routes, 7 keys)"}},
		{"bad prices", "../../config/testdata/bad_price.yaml", false, []string{
			"routes[0].input_per_1m (line 14): must not be negative",
			`routes[0].output_per_1m (line 15): "abc" is not a decimal`,
		}},
		{"missing file", "testdata/nope.yaml", false, []string{"nope.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(binPath, "--check-config", tc.file).CombinedOutput()
			var exit *exec.ExitError
			if tc.ok && err != nil {
				t.Fatalf("exit %v:\n%s", err, out)
			}
			if !tc.ok && !errors.As(err, &exit) {
				t.Fatalf("want a non-zero exit, got %v:\n%s", err, out)
			}
			for _, want := range tc.output {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// A bad flag is refused with a clear message and a non-zero exit.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the first line of the output
	}{
		{[]string{"--log-level", "loud"}, "cpen-extproc: --log-level must be debug, info, warn or error"},
		{[]string{"--drain-timeout", "soon"}, `cpen-extproc: --drain-timeout: "soon" is not a duration >= 0`},
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
	} {
		out, err := exec.Command(binPath, tc.args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%v: want exit status 1, got %v:\n%s", tc.args, err, out)
		}
		if first, _, _ := strings.Cut(string(out), "\n"); first != tc.want {
			t.Errorf("%v: first line %q, want %q", tc.args, first, tc.want)
		}
	}
}

// A catalog reload that fails keeps the old catalog and counts as refused.
func TestBadReloadKeepsCatalog(t *testing.T) {
	s := startStack(t)
	s.reloadCatalogExpect(func(c string) string { return c + "\nunknown_top_level: 1\n" }, "refused")
	if _, got, _ := mustChat(t, s, seedKey, "cpen/middle", nil); got["route_id"] != "route_mid_01" {
		t.Errorf("after a refused reload: %v", got)
	}
}
