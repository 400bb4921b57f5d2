package tracing

import (
	"context"
	"errors"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var errCollectorDown = errors.New("collector down")

// failingExporter fails every export.
type failingExporter struct{}

var _ sdktrace.SpanExporter = failingExporter{}

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errCollectorDown
}

func (failingExporter) Shutdown(context.Context) error { return nil }

func TestLoggingExporterLogsFailures(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := &loggingExporter{SpanExporter: failingExporter{}, log: zap.New(core)}
	if err := e.ExportSpans(context.Background(), make([]sdktrace.ReadOnlySpan, 3)); err != nil {
		t.Fatalf("ExportSpans() = %v, want nil (the failure is logged)", err)
	}
	entries := logs.AllUntimed()
	if len(entries) != 1 {
		t.Fatalf("got %d log entries, want 1", len(entries))
	}
	got := entries[0]
	if got.Level != zapcore.WarnLevel || got.Message != "trace export failed" {
		t.Fatalf("log = %v %q, want warn %q", got.Level, got.Message, "trace export failed")
	}
	fields := got.ContextMap()
	if fields["spans"] != int64(3) || fields["error"] != errCollectorDown.Error() {
		t.Fatalf("log fields = %v, want spans=3 error=%q", fields, errCollectorDown)
	}
}
