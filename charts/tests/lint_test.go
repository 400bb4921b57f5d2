package tests

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLint runs helm lint --strict (warnings fail) under both Helm releases, on the chart's
// defaults and on every values file of the matrix.
func TestLint(t *testing.T) {
	files := []string{""}
	for _, c := range matrixCases() {
		files = append(files, filepath.Join("testdata", c.file))
	}
	for _, v := range []helmVersion{helm3, helm4} {
		for _, f := range files {
			name := v.String() + "/" + strings.TrimSuffix(filepath.Base(f), ".yaml")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				args := []string{"lint", chartDir, "--strict", "--kube-version", kubeVersion}
				if f != "" {
					args = append(args, "-f", f)
				}
				out, errOut, err := runHelm(t, v, args...)
				if err != nil {
					t.Fatalf("%s lint: %v\n%s%s", v, err, out, errOut)
				}
				if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") ||
					strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
					t.Errorf("%s lint:\n%s", v, out)
				}
			})
		}
	}
}

// TestLintRefusesBadValues: helm lint checks the values against the schema too.
func TestLintRefusesBadValues(t *testing.T) {
	bad := valuesFile(t, "mode: sidecar\n")
	for _, v := range []helmVersion{helm3, helm4} {
		out, _, err := runHelm(t, v, "lint", chartDir, "--strict", "--kube-version", kubeVersion, "-f", bad)
		if err == nil || !strings.Contains(out, "at '/mode': value must be one of 'gateway', 'extproc'") {
			t.Errorf("%s lint of mode: sidecar: err %v\n%s", v, err, out)
		}
	}
}
