// Package e2e runs the real cpen-extproc binary behind the Envoy stand-in (or
// a real Envoy when ENVOY_BIN names one), with two mock providers, and talks
// to it with the official OpenAI SDK.
package e2e

import (
	"context"
	"fmt"
	"github.com/cpen/router/test/proctest"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/standin"
)

// Provider keys the sidecar reads from its environment; the mocks must see
// exactly these, and the client's key never.
const (
	provAKey = "sk-e2e-provider-a"
	provBKey = "sk-e2e-provider-b"
)

var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, cleanup, err := proctest.Binary()
	defer cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binPath = bin
	if err := checkEnvoyBin(); err != nil {
		fmt.Fprintln(os.Stderr, "envoy binary:", err)
		return 1
	}
	return m.Run()
}

// stack is one running system: sidecar process, Envoy (or the stand-in), two
// providers.
type stack struct {
	*sidecar
	t     *testing.T
	provA *mockprovider.Provider
	provB *mockprovider.Provider
	url   string // Envoy's (or the stand-in's) base URL
	// accessLog, when set before front is called, receives the access log of
	// the Envoy (or stand-in) front starts: envoy.yaml's JSON lines.
	accessLog io.Writer
}

// sidecar is one cpen-extproc process.
type sidecar struct {
	t           *testing.T
	catalogPath string
	grpcAddr    string
	cmd         *exec.Cmd
	logs        *logBuffer
	adminURL    string
	killed      bool // by kill: its exit is not checked
}

// kill ends the process with sig at once, as a node failure would.
func (s *sidecar) kill(sig syscall.Signal) {
	s.t.Helper()
	s.killed = true
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	s.sidecar = startSidecar(t, writeCatalog(t))
	s.url = s.front(s.sidecar)
	return s
}

// front starts Envoy in front of a sidecar and returns its base URL: the
// binary named by ENVOY_BIN on a bootstrap rendered from envoy/envoy.yaml,
// or else the stand-in with the same settings as envoy/envoy.yaml.
func (s *stack) front(sc *sidecar) string {
	srvA, srvB := httptest.NewServer(s.provA), httptest.NewServer(s.provB)
	s.t.Cleanup(srvA.Close)
	s.t.Cleanup(srvB.Close)
	clusters := providerClusters(srvA.URL, srvB.URL)
	if bin := envoyBin(); bin != "" {
		return startEnvoy(s.t, bin, sc.grpcAddr, clusters, s.accessLog)
	}
	cfg := standin.ProjectConfig(sc.grpcAddr, clusters)
	cfg.AccessLog = s.accessLog
	proxy, err := standin.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	s.t.Cleanup(func() {
		front.Close()
		_ = proxy.Close()
		// Envoy ignores a header mutation its rules refuse and only counts
		// it: the sidecar must never send one.
		if n := proxy.Stats().RejectedHeaderMutations; n != 0 {
			s.t.Errorf("the stand-in refused %d header mutations of the sidecar", n)
		}
	})
	return front.URL
}

func writeCatalog(t *testing.T) string {
	t.Helper()
	cat, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, cat, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSidecar runs bin/cpen-extproc on free ports until the test ends,
// and checks that SIGTERM stops it cleanly.
func startSidecar(t *testing.T, catalogPath string, extraArgs ...string) *sidecar {
	t.Helper()
	return startSidecarEnv(t, catalogPath, nil, extraArgs...)
}

// startSidecarEnv is startSidecar with more environment variables
// ("NAME=value").
func startSidecarEnv(t *testing.T, catalogPath string, env []string, extraArgs ...string) *sidecar {
	t.Helper()
	sc := &sidecar{t: t, catalogPath: catalogPath, logs: &logBuffer{}, grpcAddr: freeAddr(t)}
	adminAddr := freeAddr(t)
	sc.adminURL = "http://" + adminAddr
	args := append([]string{"--catalog", catalogPath, "--grpc-addr", sc.grpcAddr,
		"--admin-addr", adminAddr, "--log-level", "debug", "--catalog-poll", "1h", "--drain-delay", "0s"}, extraArgs...)
	sc.cmd = exec.Command(binPath, args...)
	sc.cmd.Env = append(os.Environ(), "E2E_PROV_A_KEY="+provAKey, "E2E_PROV_B_KEY="+provBKey)
	sc.cmd.Env = append(sc.cmd.Env, env...)
	stderr, err := sc.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logsDone := make(chan struct{})
	go func() { defer close(logsDone); sc.logs.ReadFrom(stderr) }()
	t.Cleanup(func() {
		if sc.killed {
			_ = sc.cmd.Wait()
			<-logsDone
			return
		}
		_ = sc.cmd.Process.Signal(syscall.SIGTERM)
		waited := make(chan error, 1)
		go func() { waited <- sc.cmd.Wait() }()
		select {
		case err := <-waited:
			if err != nil {
				t.Errorf("cpen-extproc exited with %v on SIGTERM", err)
			}
		case <-time.After(20 * time.Second):
			_ = sc.cmd.Process.Kill()
			t.Error("cpen-extproc did not stop on SIGTERM")
			<-waited
		}
		<-logsDone
		if t.Failed() {
			t.Logf("cpen-extproc log:\n%s", sc.logs.String())
		}
	})
	sc.waitReady()
	return sc
}

func (s *sidecar) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("cpen-extproc not ready; log:\n%s", s.logs.String())
}

// client is an OpenAI SDK client pointed at the stand-in.
func (s *stack) client(key string) openai.Client { return sdkClient(s.url, key) }

func sdkClient(url, key string) openai.Client {
	return openai.NewClient(append(optionsFor(url+"/v1/"), option.WithAPIKey(key))...)
}

// optionsFor points the SDK at a base URL, without retries so every status
// is seen as sent.
func optionsFor(base string) []option.RequestOption {
	return []option.RequestOption{option.WithBaseURL(base), option.WithMaxRetries(0), option.WithAPIKey("unused")}
}

// reloadCatalog rewrites the catalog file, sends SIGHUP and waits until the
// sidecar has applied it.
func (s *sidecar) reloadCatalog(edit func(string) string) {
	s.t.Helper()
	s.reloadCatalogExpect(edit, "applied")
}

// reloadCatalogExpect is reloadCatalog waiting for a reload decision with
// the given outcome (applied, refused, held), as counted by the
// cpen_catalog_reloads_total metric.
func (s *sidecar) reloadCatalogExpect(edit func(string) string, outcome string) {
	s.t.Helper()
	b, err := os.ReadFile(s.catalogPath)
	if err != nil {
		s.t.Fatal(err)
	}
	next := edit(string(b))
	if next == string(b) {
		s.t.Fatal("reloadCatalog: the edit changed nothing")
	}
	if err := os.WriteFile(s.catalogPath, []byte(next), 0o644); err != nil {
		s.t.Fatal(err)
	}
	before := s.reloads(outcome)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		s.t.Fatal(err)
	}
	// The counter moves once the decision is taken; nothing pushes it to
	// the test, so it is read until it does, within a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for s.reloads(outcome) == before {
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s reload counted; log:\n%s", outcome, s.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reloads reads cpen_catalog_reloads_total for one outcome from the admin
// listener; 0 before the first such decision.
func (s *sidecar) reloads(outcome string) int {
	return s.counter(`cpen_catalog_reloads_total{outcome="` + outcome + `"}`)
}

// counter reads one counter series, named with its labels as /metrics
// prints it, from the admin listener; 0 before it exists.
func (s *sidecar) counter(series string) int {
	s.t.Helper()
	resp, err := http.Get(s.adminURL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				s.t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	return 0
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// logBuffer keeps the sidecar's stderr for assertions.
type logBuffer = proctest.Log

func mockReply(status int, body string, headerKV ...string) mockprovider.Reply {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(headerKV); i += 2 {
		h.Set(headerKV[i], headerKV[i+1])
	}
	return mockprovider.Reply{Status: status, Header: h, Body: []byte(body)}
}
