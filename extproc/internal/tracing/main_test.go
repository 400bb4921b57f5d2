package tracing

import (
	"testing"

	"go.uber.org/goleak"
)

// The batch span processor and the gRPC exporter run goroutines that
// Shutdown must stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
