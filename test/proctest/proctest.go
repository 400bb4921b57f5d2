// Package proctest is what the suites that run the sidecar as a process
// share: finding or building the binary, and keeping its log.
package proctest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Binary returns the cpen-extproc binary to run: the one make builds and
// names in CPEN_BIN, or else one built into a temporary directory for a
// bare go test. cleanup removes what it built.
func Binary() (path string, cleanup func(), err error) {
	cleanup = func() {}
	path = os.Getenv("CPEN_BIN")
	if path == "" {
		dir, err := os.MkdirTemp("", "cpen-extproc-bin")
		if err != nil {
			return "", cleanup, err
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		path = filepath.Join(dir, "cpen-extproc")
		cmd := exec.Command("go", "build", "-tags", "vtprotobuf", "-o", path, "github.com/cpen/router/extproc/cmd/cpen-extproc")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", cleanup, fmt.Errorf("build cpen-extproc: %w", err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return "", cleanup, fmt.Errorf("cpen-extproc binary: %w", err)
	}
	return path, cleanup, nil
}

// Log keeps a process's output, line by line, for assertions and for
// printing when a test fails.
type Log struct {
	mu    sync.Mutex
	lines []string
}

// ReadFrom keeps every line of r until it ends.
func (l *Log) ReadFrom(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
	}
}

// String is every line kept so far.
func (l *Log) String() string { return l.Tail(-1) }

// Tail is the last n lines kept so far; n < 0 means all.
func (l *Log) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := 0
	if n >= 0 {
		from = max(0, len(l.lines)-n)
	}
	return strings.Join(l.lines[from:], "\n")
}
