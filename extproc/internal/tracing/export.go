package tracing

import (
	"context"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
)

// loggingExporter logs failed exports to the sidecar's logger. The batch
// processor would otherwise hand the error to OpenTelemetry's global error
// handler, which writes plain text to stderr outside the JSON log.
type loggingExporter struct {
	sdktrace.SpanExporter
	log *zap.Logger
}

// ExportSpans exports spans and logs a failure instead of returning it:
// the spans are lost either way, and returning the error would only route
// it to the global handler as well.
func (e *loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.log.Warn("trace export failed", zap.Int("spans", len(spans)), zap.Error(err))
	}
	return nil
}
