// Package tracing records one OpenTelemetry span per routed request and
// exports it over OTLP/gRPC.
//
// Tracing is optional: FromEnv returns a nil *Tracer when it is off, and
// every method of a nil *Tracer or nil *Span is a no-op, so the request path
// pays one nil check per call and allocates nothing.
//
// A span carries routing facts only: the operation, the model alias, the
// route, the token counts, the cost and the outcome. Prompts and completions
// are never recorded, and the package has no method that could record them:
// they are the caller's data, and trace back ends are rarely under the same
// access rules as the request path.
package tracing
