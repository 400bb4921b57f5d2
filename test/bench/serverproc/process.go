// Package serverproc starts and owns the ext_proc server processes of the
// benchmarks: cpen-extproc (the sidecar) and noop-extproc (the floor), each
// on free loopback ports, possibly under a wrapper such as valgrind. A
// Process is started, waited on until it serves, and stopped or killed by
// its owner; its output's tail is kept for error messages.
package serverproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const (
	// DefaultStartTimeout bounds the wait for a native server to serve.
	DefaultStartTimeout = 15 * time.Second
	stopTimeout         = 10 * time.Second
	pollEvery           = 50 * time.Millisecond
)

// ErrExited is a server that exited while it should be serving.
var ErrExited = errors.New("server exited")

// ErrNotReady is a server that did not serve within its start timeout.
var ErrNotReady = errors.New("server not ready")

// Spec is how to run one server.
type Spec struct {
	Name string   // for messages, e.g. "cpen-extproc"
	Bin  string   // the program to run
	Args []string // its arguments
	Env  []string // added to this process's environment
	// Addr is the server's gRPC address.
	Addr string
	// Ready reports whether the server serves; it is polled from start
	// until it returns true or StartTimeout has passed.
	Ready func(context.Context) bool
	// StartTimeout bounds the wait for Ready; 0 is DefaultStartTimeout.
	StartTimeout time.Duration
	// MetricsURL is the server's Prometheus endpoint, if it has one.
	MetricsURL string
}

// Under returns the spec run by wrapper: wrapper with args, then Bin and
// Args. The process is then the wrapper's; tools such as valgrind keep
// their pid when they load the program.
func (s Spec) Under(wrapper string, args ...string) Spec {
	w := s
	w.Bin = wrapper
	w.Args = append(append(append([]string(nil), args...), s.Bin), s.Args...)
	return w
}

// Process is a server process started by this one.
type Process struct {
	name    string
	addr    string
	metrics string
	cmd     *exec.Cmd
	out     *tail
	done    chan struct{} // closed when the process has exited and is reaped
	err     error         // Wait's result, set before done is closed
}

// Start starts spec's program and waits until it serves. A server that
// exits or does not serve in time is reported with the tail of its
// output (stdout and stderr interleaved) and left reaped.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	p := &Process{name: spec.Name, addr: spec.Addr, metrics: spec.MetricsURL, out: &tail{}, done: make(chan struct{})}
	p.cmd = exec.Command(spec.Bin, spec.Args...)
	p.cmd.Env = append(os.Environ(), spec.Env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	timeout := spec.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	for !spec.Ready(wctx) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%w at start: %s (%v); its output: %s", ErrExited, spec.Name, p.err, p.out)
		case <-wctx.Done():
			_ = p.Kill()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("start %s: %w", spec.Name, ctx.Err())
			}
			return nil, fmt.Errorf("%w: %s did not serve within %v; its output: %s", ErrNotReady, spec.Name, timeout, p.out)
		case <-poll.C:
		}
	}
	return p, nil
}

// Name is the spec's name.
func (p *Process) Name() string { return p.name }

// Addr is the server's gRPC address.
func (p *Process) Addr() string { return p.addr }

// MetricsURL is the server's Prometheus endpoint; empty when it has none.
func (p *Process) MetricsURL() string { return p.metrics }

// PID is the process id (the wrapper's, when run under one).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output is the tail of what the process wrote to stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Alive reports an error if the process has exited.
func (p *Process) Alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("%w: %s (%v); its output: %s", ErrExited, p.name, p.err, p.out)
	default:
		return nil
	}
}

// Stop sends SIGTERM, waits, and kills the process if it lingers.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v after SIGTERM; killed", p.name, stopTimeout)
	}
}

// Kill sends SIGKILL and returns once the process is reaped. It is for
// processes that cannot be trusted to exit cleanly (a Go program under
// valgrind does not survive its own exit path).
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return nil
}
