package tracing

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// mapEnv is a getenv over a fixed set of variables.
func mapEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{name: "nothing set", env: nil, want: false},
		{name: "endpoint", env: map[string]string{envEndpoint: "http://collector:4317"}, want: true},
		{name: "traces endpoint", env: map[string]string{envTracesEndpoint: "http://collector:4317"}, want: true},
		{name: "blank endpoint", env: map[string]string{envEndpoint: "  "}, want: false},
		{name: "exporter otlp without endpoint", env: map[string]string{envTracesExporter: "otlp"}, want: true},
		{name: "exporter otlp padded", env: map[string]string{envTracesExporter: " otlp "}, want: true},
		{name: "exporter none beats endpoint", env: map[string]string{
			envTracesExporter: "none", envEndpoint: "http://collector:4317"}, want: false},
		{name: "sdk disabled beats exporter", env: map[string]string{
			envSDKDisabled: "true", envTracesExporter: "otlp", envEndpoint: "http://collector:4317"}, want: false},
		{name: "sdk disabled any case", env: map[string]string{
			envSDKDisabled: "TRUE", envEndpoint: "http://collector:4317"}, want: false},
		{name: "sdk disabled false", env: map[string]string{
			envSDKDisabled: "false", envEndpoint: "http://collector:4317"}, want: true},
		{name: "sdk disabled ignores bad exporter", env: map[string]string{
			envSDKDisabled: "true", envTracesExporter: "zipkin"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := enabled(mapEnv(tt.env))
			if err != nil {
				t.Fatalf("enabled() error = %v", err)
			}
			if got != tt.want {
				t.Fatalf("enabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFromEnvRefusesUnsupported(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
		wantMsg string
	}{
		{
			name:    "exporter",
			env:     map[string]string{envTracesExporter: "zipkin", envEndpoint: "http://collector:4317"},
			wantVar: envTracesExporter,
			wantMsg: `tracing: OTEL_TRACES_EXPORTER="zipkin" is not supported; supported values: otlp, none`,
		},
		{
			name:    "exporter list",
			env:     map[string]string{envTracesExporter: "otlp,console"},
			wantVar: envTracesExporter,
			wantMsg: `tracing: OTEL_TRACES_EXPORTER="otlp,console" is not supported; supported values: otlp, none`,
		},
		{
			name:    "protocol",
			env:     map[string]string{envEndpoint: "http://collector:4318", envProtocol: "http/protobuf"},
			wantVar: envProtocol,
			wantMsg: `tracing: OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf" is not supported; supported values: grpc`,
		},
		{
			name: "traces protocol wins over protocol",
			env: map[string]string{envTracesExporter: "otlp",
				envProtocol: "grpc", envTracesProtocol: "http/json"},
			wantVar: envTracesProtocol,
			wantMsg: `tracing: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/json" is not supported; supported values: grpc`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := FromEnv(context.Background(), mapEnv(tt.env), zaptest.NewLogger(t))
			if tr != nil {
				t.Fatalf("FromEnv() returned a Tracer with error %v", err)
			}
			var ue *UnsupportedError
			if !errors.As(err, &ue) {
				t.Fatalf("FromEnv() error = %v, want *UnsupportedError", err)
			}
			if ue.Var != tt.wantVar {
				t.Fatalf("UnsupportedError.Var = %q, want %q", ue.Var, tt.wantVar)
			}
			if err.Error() != tt.wantMsg {
				t.Fatalf("FromEnv() error =\n%s\nwant\n%s", err, tt.wantMsg)
			}
		})
	}
}

func TestCheckProtocolAcceptsGRPC(t *testing.T) {
	for _, env := range []map[string]string{
		nil,
		{envProtocol: "grpc"},
		{envProtocol: "http/protobuf", envTracesProtocol: "grpc"},
	} {
		if err := checkProtocol(mapEnv(env)); err != nil {
			t.Errorf("checkProtocol(%v) = %v, want nil", env, err)
		}
	}
}

func TestOffIsNilAndFree(t *testing.T) {
	for _, env := range []map[string]string{
		nil,
		{envTracesExporter: "none"},
		{envSDKDisabled: "true", envEndpoint: "http://collector:4317"},
	} {
		tr, err := FromEnv(context.Background(), mapEnv(env), zaptest.NewLogger(t))
		if tr != nil || err != nil {
			t.Fatalf("FromEnv(%v) = %v, %v; want nil, nil", env, tr, err)
		}
	}

	var tr *Tracer
	traceparent := []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	now := time.Unix(1_700_000_000, 0)
	allocs := testing.AllocsPerRun(100, func() {
		s := tr.Start(traceparent, nil, "chat", "cpen/middle", now)
		s.SetRoute("route-a", "cheapest", "under_cap")
		s.SetUsage(42, 18)
		s.SetCost("0.000006")
		s.SetStatus(503)
		s.SetRefusal(402, "no_route_under_cap")
		s.End(now)
	})
	if allocs != 0 {
		t.Fatalf("a request on a nil Tracer allocates %v times, want 0", allocs)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("nil Tracer Shutdown() = %v, want nil", err)
	}
}
