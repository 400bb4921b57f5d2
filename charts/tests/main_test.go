package tests

import (
	"fmt"
	"os"
	"testing"
)

// TestMain builds the two Helm releases before any test runs. From an empty Go build cache that
// takes several minutes on two cores, which go test's default 10-minute limit on the whole test
// binary may not cover: run this package with -timeout 30m (make helm-test does). TestMain removes
// the binaries and Helm's directories when the tests end.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	defer func() { _ = os.RemoveAll(toolDir()) }()
	if _, err := helmBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
