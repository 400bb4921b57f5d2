package faults

import (
	"bytes"
	"fmt"
	"github.com/cpen/router/test/proctest"
	"github.com/cpen/router/test/redistest"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Provider keys the sidecar reads from its environment.
const (
	provAKey = "sk-faults-provider-a"
	provBKey = "sk-faults-provider-b"
)

// sidecar is one cpen-extproc process.
type sidecar struct {
	t        *testing.T
	grpcAddr string
	adminURL string
	cmd      *exec.Cmd
	logs     *logBuffer
	exited   chan error // receives the exit once
	done     bool       // exited and waited for
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

// writeCatalog copies the suite's catalog into a temporary directory.
func writeCatalog(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSidecar runs the binary on grpcAddr ("" for a free port) until the
// test ends, and waits until /readyz answers 200.
func startSidecar(t *testing.T, catalog, grpcAddr string, extra ...string) *sidecar {
	t.Helper()
	if grpcAddr == "" {
		grpcAddr = freeAddr(t)
	}
	admin := freeAddr(t)
	sc := &sidecar{t: t, grpcAddr: grpcAddr, adminURL: "http://" + admin, logs: &logBuffer{}, exited: make(chan error, 1)}
	args := append([]string{"--catalog", catalog, "--grpc-addr", grpcAddr, "--admin-addr", admin,
		"--log-level", "info", "--catalog-poll", "1h", "--drain-delay", "0s"}, extra...)
	sc.cmd = exec.Command(binPath, args...)
	sc.cmd.Env = append(os.Environ(), "E2E_PROV_A_KEY="+provAKey, "E2E_PROV_B_KEY="+provBKey)
	stderr, err := sc.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logsDone := make(chan struct{})
	go func() { defer close(logsDone); sc.logs.ReadFrom(stderr) }()
	go func() { <-logsDone; sc.exited <- sc.cmd.Wait() }()
	t.Cleanup(func() {
		if !sc.done {
			if err := sc.stop(); err != nil {
				t.Errorf("cpen-extproc on %s: %v", sc.grpcAddr, err)
			}
		}
		if t.Failed() {
			t.Logf("cpen-extproc %s log (tail):\n%s", sc.grpcAddr, sc.logs.Tail(40))
		}
	})
	sc.waitReady()
	return sc
}

// stop sends SIGTERM and waits for a clean exit.
func (s *sidecar) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	s.done = true
	select {
	case err := <-s.exited:
		if err != nil {
			return fmt.Errorf("exit on SIGTERM: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("no exit 30s after SIGTERM")
	}
}

func (s *sidecar) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := s.get("/readyz"); code == http.StatusOK {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("cpen-extproc not ready; log:\n%s", s.logs.Tail(40))
}

// get fetches an admin path; code 0 when the listener does not answer.
func (s *sidecar) get(path string) (int, string) {
	resp, err := http.Get(s.adminURL + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// counter reads one counter series as /metrics prints it; 0 before it exists.
func (s *sidecar) counter(series string) int {
	s.t.Helper()
	_, body := s.get("/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("%s: %v", line, err)
			}
			return int(n)
		}
	}
	return 0
}

// logBuffer keeps a process's stderr.
type logBuffer = proctest.Log

// redisProc is a redis-server on a fixed port that the test may kill with
// SIGKILL and start again on the same port, as a restarted Redis pod is.
type redisProc struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	wait chan error
}

func startRedis(t *testing.T) *redisProc {
	t.Helper()
	r := &redisProc{t: t, addr: freeAddr(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Kill()
			<-r.wait
		}
	})
	return r
}

func (r *redisProc) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.out = &bytes.Buffer{}
	r.cmd = exec.Command("redis-server", "--save", "", "--appendonly", "no",
		"--port", port, "--bind", "127.0.0.1", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	r.wait = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(r.cmd, r.wait)
	deadline := time.Now().Add(10 * time.Second)
	for !redistest.Ping(r.addr) {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer PING:\n%s", r.addr, r.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL and waits for the exit.
func (r *redisProc) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.wait
	r.cmd = nil
}

func (r *redisProc) pause()  { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }
func (r *redisProc) resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }
