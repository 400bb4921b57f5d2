package e2e

// The real-Envoy mode: with ENVOY_BIN naming an Envoy binary, every stack puts that Envoy in front
// of its sidecar instead of the Go stand-in, on a bootstrap rendered from envoy/envoy.yaml.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cpen/router/envoy"
)

// envoyBinEnv names the environment variable that switches the suite to a real Envoy.
const envoyBinEnv = "ENVOY_BIN"

// bootstrapTemplate is envoy/envoy.yaml, seen from this package's directory (go test runs there).
const bootstrapTemplate = "../../envoy/envoy.yaml"

// envoyStartTimeout bounds Envoy's start: loading the bootstrap, binding, connecting nothing yet.
const envoyStartTimeout = 30 * time.Second

// envoyBin is the Envoy binary to run, or "" for the stand-in.
func envoyBin() string { return os.Getenv(envoyBinEnv) }

// checkEnvoyBin fails the run early when ENVOY_BIN is set but names nothing runnable, rather than
// once per test.
func checkEnvoyBin() error {
	bin := envoyBin()
	if bin == "" {
		return nil
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("%s=%s: %w", envoyBinEnv, bin, err)
	}
	return nil
}

// providerClusters maps the test catalog's clusters to the two mock providers' base URLs; the
// stand-in and the real Envoy are given the same map.
func providerClusters(urlA, urlB string) map[string]string {
	return map[string]string{"mock_a": urlA, "mock_b": urlB}
}

// renderEnvoyConfig is the bootstrap a real Envoy runs in front of one sidecar: envoy/envoy.yaml
// with its listener and admin on the given addresses, its ext_proc cluster on the sidecar's gRPC
// address and one plaintext cluster per entry of clusters (name -> "http://ip:port").
func renderEnvoyConfig(listen, admin, grpcAddr string, clusters map[string]string) ([]byte, error) {
	tmpl, err := os.ReadFile(bootstrapTemplate)
	if err != nil {
		return nil, err
	}
	providers := make(map[string]string, len(clusters))
	for name, raw := range clusters {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		if u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("cluster %s: %q is not a plain http://ip:port base URL", name, raw)
		}
		providers[name] = u.Host
	}
	return envoy.Render(tmpl, envoy.Local{Listener: listen, Admin: admin, ExtProc: grpcAddr, Providers: providers})
}

// startEnvoy runs the Envoy binary bin in front of the sidecar at grpcAddr until the test ends, and
// returns its listener's base URL. Envoy's log (and access log) is shown only if the test fails.
// accessLog, if not nil, also gets Envoy's stdout, where only the access log goes.
func startEnvoy(t *testing.T, bin, grpcAddr string, clusters map[string]string, accessLog io.Writer) string {
	t.Helper()
	listen, admin := freeAddr(t), freeAddr(t)
	cfg, err := renderEnvoyConfig(listen, admin, grpcAddr, clusters)
	if err != nil {
		t.Fatalf("render the Envoy bootstrap: %v", err)
	}
	cfgPath := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	// Hot restart is off, so parallel Envoys share no memory region and need no distinct --base-id.
	cmd := exec.Command(bin, "--config-path", cfgPath, "--disable-hot-restart", "--concurrency", "2",
		"--log-level", "info", "--component-log-level", "ext_proc:debug")
	logs := &logBuffer{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	// Wait is called only once both pipes are drained, as os/exec requires; its result is the
	// signal that Envoy is gone, whether it was stopped or exited on its own.
	exited := make(chan error, 1)
	go func() {
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			if accessLog != nil {
				logs.ReadFrom(io.TeeReader(stdout, accessLog))
				return
			}
			logs.ReadFrom(stdout)
		}()
		logs.ReadFrom(stderr)
		<-drained
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("envoy exited with %v", err)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("envoy did not stop on SIGTERM")
			<-exited
		}
		if t.Failed() {
			t.Logf("envoy bootstrap %s:\n%s", cfgPath, cfg)
			t.Logf("envoy log:\n%s", logs.String())
		}
	})
	waitEnvoyReady(t, "http://"+admin+"/ready", exited)
	return "http://" + listen
}

// waitEnvoyReady polls the admin /ready endpoint, which answers 200 once the server is LIVE
// (listeners bound, clusters initialised); Envoy offers no other signal. An Envoy that exits
// meanwhile (a bootstrap it refused, a port taken) ends the wait at once.
func waitEnvoyReady(t *testing.T, readyURL string, exited chan error) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(envoyStartTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // the cleanup still collects it
			t.Fatalf("envoy exited before it was ready: %v", err)
		default:
		}
		resp, err := client.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("envoy not ready within %v", envoyStartTimeout)
}
