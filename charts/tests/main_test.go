package tests

import (
	"fmt"
	"os"
	"testing"
)

// TestMain builds the two Helm releases before any test runs, outside the tests' timeout: from an
// empty Go build cache that takes minutes. It removes the binaries and Helm's directories after.
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
