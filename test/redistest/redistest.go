// Package redistest starts a real redis-server for tests: on a free
// loopback port, without persistence, stopped when the test ends.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process started for one test.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	out  *bytes.Buffer // stdout and stderr, for failures
	wait chan error    // receives once the process has exited
	once sync.Once
}

// Start starts a real redis-server on a free loopback port, without
// persistence, waits until it answers PING and stops it when the test ends.
// A missing redis-server fails the test: these tests never skip.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH; the Redis state tests need a real one: "+
			"apt-get install -y redis-server (%v)", err)
	}
	var lastErr error
	for range 3 { // the free port may be taken before redis-server binds it
		r, err := tryStart(t, bin)
		if err == nil {
			t.Cleanup(r.Stop)
			return r
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

func tryStart(t testing.TB, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: &bytes.Buffer{}}
	r.cmd = exec.Command(bin, "--save", "", "--appendonly", "no",
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir())
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("redis-server exited (%v):\n%s", err, r.out)
		default:
		}
		if Ping(r.Addr) {
			r.wait = exited
			return r, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = r.cmd.Process.Kill()
	<-exited
	return nil, fmt.Errorf("redis-server did not answer PING in 10s:\n%s", r.out)
}

// Stop ends the server (once; later calls do nothing).
func (r *Server) Stop() {
	r.once.Do(func() {
		_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused server must run to exit
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.wait:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.wait
		}
	})
}

// Client returns a go-redis client of the server, closed when the test
// ends (before the server stops). Like the sidecar's, it lets contexts
// bound socket I/O, so the Store's per-call timeout holds.
func (r *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Ping reports whether a Redis answers PING at addr. It speaks RESP
// directly, so waiting starts no client goroutines.
func Ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// Pause stops the server's process (SIGSTOP): it keeps its connections
// and answers nothing, as a hung Redis does, until Resume.
func (r *Server) Pause() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *Server) Resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }
