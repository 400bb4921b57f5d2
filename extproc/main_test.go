package extproc

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its servers: no serve worker or stream goroutine may
// outlive the package's tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
