package tracing

import "go.opentelemetry.io/otel/propagation"

// W3C trace context header names, lower-case as Envoy forwards them.
const (
	headerTraceparent = "traceparent"
	headerTracestate  = "tracestate"
)

// headerCarrier hands the two raw W3C header values to the SDK's
// propagator, so parsing and validation stay the SDK's job.
type headerCarrier struct {
	traceparent, tracestate []byte
}

var _ propagation.TextMapCarrier = headerCarrier{}

func (c headerCarrier) Get(key string) string {
	switch key {
	case headerTraceparent:
		return string(c.traceparent)
	case headerTracestate:
		return string(c.tracestate)
	}
	return ""
}

// Set is never called: the carrier is only extracted from.
func (headerCarrier) Set(string, string) {}

func (headerCarrier) Keys() []string {
	return []string{headerTraceparent, headerTracestate}
}
