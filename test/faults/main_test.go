package faults

import (
	"fmt"
	"github.com/cpen/router/test/proctest"
	"os"
	"testing"
)

// binPath is the cpen-extproc binary under test, set once by TestMain.
var binPath string

// results collects one row per scenario; TestMain prints them at the end.
var results = &table{}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, cleanup, err := proctest.Binary()
	defer cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binPath = bin
	code := m.Run()
	if results.len() > 0 {
		md := results.markdown()
		fmt.Println(md)
		if path := os.Getenv("CPEN_FAULTS_REPORT"); path != "" {
			if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "write fault report:", err)
				return 1
			}
		}
	}
	return code
}
