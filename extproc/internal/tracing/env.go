package tracing

import "strings"

// The environment variables that decide whether traces are exported and
// over which protocol. The exporter's own settings (endpoint, TLS, headers,
// timeout, compression), the sampler and the batch settings are read by
// the OpenTelemetry SDK from the process environment.
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

const (
	exporterOTLP = "otlp"
	exporterNone = "none"
	protocolGRPC = "grpc"
)

// enabled decides from the environment whether traces are exported. An
// endpoint on its own turns tracing on, so pointing the sidecar at a
// collector is a single setting; OTEL_SDK_DISABLED and
// OTEL_TRACES_EXPORTER=none turn it off whatever else is set.
func enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv(envSDKDisabled)), "true") {
		return false, nil
	}
	switch exp := strings.TrimSpace(getenv(envTracesExporter)); exp {
	case exporterOTLP:
		return true, nil
	case exporterNone:
		return false, nil
	case "":
		return strings.TrimSpace(getenv(envEndpoint)) != "" ||
			strings.TrimSpace(getenv(envTracesEndpoint)) != "", nil
	default:
		return false, &UnsupportedError{Var: envTracesExporter, Value: exp,
			Supported: []string{exporterOTLP, exporterNone}}
	}
}

// checkProtocol refuses an OTLP protocol other than gRPC. The exporter
// speaks gRPC only; without this check a collector configured for
// http/protobuf (port 4318) would be sent gRPC and every export would fail
// long after start, where nobody looks.
func checkProtocol(getenv func(string) string) error {
	name := envTracesProtocol
	p := strings.TrimSpace(getenv(name))
	if p == "" {
		name = envProtocol
		p = strings.TrimSpace(getenv(name))
	}
	if p == "" || p == protocolGRPC {
		return nil
	}
	return &UnsupportedError{Var: name, Value: p, Supported: []string{protocolGRPC}}
}
