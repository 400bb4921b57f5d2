package e2e

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// reportMu orders lines from parallel tests.
var reportMu sync.Mutex

// report logs what a test ran or skipped and why, and appends the line to
// the file named by CPEN_TEST_REPORT when set: go test shows a passing
// package's logs only with -v, and `make test` prints that file at the
// end, so a snippet or browser test that could not run here is never
// skipped silently.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: %s", t.Name(), fmt.Sprintf(format, args...))
	t.Log(line)
	path := os.Getenv("CPEN_TEST_REPORT")
	if path == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("test report %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("test report %s: %v", path, err)
	}
}

// skip reports why a test cannot run here, then skips it.
func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	report(t, "skipped: "+format, args...)
	t.SkipNow()
}
