package serverproc

// benchEnv are provider keys for the sidecar, so the request path adds the
// upstream Authorization header as in production.
var benchEnv = []string{"OPENAI_API_KEY=sk-bench-openai", "GEMINI_API_KEY=sk-bench-gemini", "MISTRAL_API_KEY=sk-bench-mistral"}

// Sidecar is cpen-extproc (bin) on catalog, with its gRPC and admin
// servers on free loopback ports; it is ready when its admin /readyz
// answers 200. It logs warnings only, so its output stays small.
func Sidecar(bin, catalog string) (Spec, error) {
	grpcAddr, err := FreeAddr()
	if err != nil {
		return Spec{}, err
	}
	adminAddr, err := FreeAddr()
	if err != nil {
		return Spec{}, err
	}
	return Spec{
		Name: "cpen-extproc", Bin: bin, Addr: grpcAddr,
		Args: []string{"--catalog", catalog, "--grpc-addr", grpcAddr, "--admin-addr", adminAddr,
			"--log-level", "warn", "--drain-timeout", "2s"},
		Env:        append([]string(nil), benchEnv...),
		Ready:      HTTPReady("http://" + adminAddr + "/readyz"),
		MetricsURL: "http://" + adminAddr + "/metrics",
	}, nil
}

// Noop is noop-extproc (bin), the benchmarks' floor, on a free loopback
// port; it is ready when the port accepts connections.
func Noop(bin string) (Spec, error) {
	addr, err := FreeAddr()
	if err != nil {
		return Spec{}, err
	}
	return Spec{Name: "noop-extproc", Bin: bin, Addr: addr, Args: []string{"--grpc-addr", addr}, Ready: TCPReady(addr)}, nil
}
