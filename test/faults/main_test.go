package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	// make builds bin/cpen-extproc and names it in CPEN_BIN; a bare go test
	// builds its own.
	binPath = os.Getenv("CPEN_BIN")
	if binPath == "" {
		dir, err := os.MkdirTemp("", "cpen-faults-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binPath = filepath.Join(dir, "cpen-extproc")
		cmd := exec.Command("go", "build", "-tags", "vtprotobuf", "-o", binPath, "github.com/cpen/router/extproc/cmd/cpen-extproc")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build cpen-extproc:", err)
			return 1
		}
	}
	if _, err := os.Stat(binPath); err != nil {
		fmt.Fprintln(os.Stderr, "cpen-extproc binary:", err)
		return 1
	}
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
