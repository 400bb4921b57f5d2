package tracing

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// scopeName is the instrumentation scope of the sidecar's spans.
const scopeName = "github.com/cpen/router/extproc"

// Tracer starts request spans and exports them. A nil *Tracer is valid and
// records nothing.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// FromEnv builds a Tracer from the standard OpenTelemetry environment
// variables, or returns nil and no error when tracing is off.
//
// getenv decides only whether tracing is on and that the protocol is gRPC:
// it is on when OTEL_TRACES_EXPORTER is "otlp", or when that is unset and
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turns it off. Every
// other setting is read from the process environment by the OpenTelemetry
// SDK itself: the exporter's endpoint, TLS, headers, timeout and compression
// (OTEL_EXPORTER_OTLP_*; an http:// endpoint is dialled without TLS), the
// sampler (OTEL_TRACES_SAMPLER, parent-based always-on by default), the
// batch settings (OTEL_BSP_*) and the resource (OTEL_SERVICE_NAME, default
// "cpen-extproc", and OTEL_RESOURCE_ATTRIBUTES). Callers therefore pass
// os.Getenv outside tests.
//
// The exporter connects lazily, so an unreachable collector does not fail
// FromEnv; failed exports are logged to log.
func FromEnv(ctx context.Context, getenv func(string) string, log *zap.Logger) (*Tracer, error) {
	on, err := enabled(getenv)
	if err != nil || !on {
		return nil, err
	}
	if err := checkProtocol(getenv); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	res, err := newResource(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggingExporter{SpanExporter: exp, log: log}),
		sdktrace.WithResource(res),
	)
	log.Info("tracing on", zap.String("exporter", exporterOTLP), zap.String("protocol", protocolGRPC))
	return &Tracer{
		provider: tp,
		tracer:   tp.Tracer(scopeName, trace.WithInstrumentationVersion(buildVersion())),
	}, nil
}

// Shutdown exports the spans still queued and stops the exporter. It is a
// no-op on a nil Tracer.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Start starts the span of one request, named operation and alias (for
// example "chat cpen/middle"), as a server span beginning at start. It
// continues the W3C trace context of the raw traceparent and tracestate
// header values; an empty or invalid traceparent starts a new trace. An
// empty alias (a request refused before its model was known) leaves the
// name as the operation alone. It returns nil on a nil Tracer.
func (t *Tracer) Start(traceparent, tracestate []byte, operation, alias string, start time.Time) *Span {
	if t == nil {
		return nil
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(),
		headerCarrier{traceparent: traceparent, tracestate: tracestate})
	name := operation
	attrs := []attribute.KeyValue{keyOperation.String(operation)}
	if alias != "" {
		name = operation + " " + alias
		attrs = append(attrs, keyRequestModel.String(alias))
	}
	_, s := t.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start),
		trace.WithAttributes(attrs...),
	)
	return &Span{span: s}
}
