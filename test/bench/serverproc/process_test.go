package serverproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func always(v bool) func(context.Context) bool { return func(context.Context) bool { return v } }

func TestUnder(t *testing.T) {
	s := Spec{Name: "x", Bin: "/bin/server", Args: []string{"--a", "1"}}
	w := s.Under("/usr/bin/valgrind", "--tool=callgrind")
	if w.Bin != "/usr/bin/valgrind" || !slices.Equal(w.Args, []string{"--tool=callgrind", "/bin/server", "--a", "1"}) || w.Name != "x" {
		t.Errorf("wrapped spec %+v", w)
	}
	if s.Bin != "/bin/server" || !slices.Equal(s.Args, []string{"--a", "1"}) {
		t.Errorf("the original changed: %+v", s)
	}
}

// fileExists is ready once path exists.
func fileExists(path string) func(context.Context) bool {
	return func(context.Context) bool {
		_, err := os.Stat(path)
		return err == nil
	}
}

func TestStartReadyThenKill(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	// The greeting is written before the server says it is ready.
	p, err := Start(context.Background(), Spec{Name: "sleeper", Bin: "sh", Args: []string{"-c", "echo $GREETING; touch $READY; exec sleep 60"},
		Env: []string{"GREETING=hello", "READY=" + ready}, Addr: "127.0.0.1:1", Ready: fileExists(ready)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "sleeper" || p.Addr() != "127.0.0.1:1" || p.PID() <= 0 {
		t.Errorf("process %s %s %d", p.Name(), p.Addr(), p.PID())
	}
	if err := p.Alive(); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Alive(); !errors.Is(err, ErrExited) {
		t.Errorf("after Kill: Alive = %v, want ErrExited", err)
	}
	if !strings.Contains(p.Output(), "hello") {
		t.Errorf("output %q lacks the greeting", p.Output())
	}
	if err := p.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}
}

func TestStartReportsExitWithOutput(t *testing.T) {
	_, err := Start(context.Background(), Spec{Name: "crasher", Bin: "sh", Args: []string{"-c", "echo no catalog >&2; exit 3"},
		Ready: always(false)})
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "no catalog") {
		t.Fatalf("err = %v, want ErrExited with the output", err)
	}
}

func TestStartTimesOut(t *testing.T) {
	_, err := Start(context.Background(), Spec{Name: "mute", Bin: "sh", Args: []string{"-c", "echo starting; exec sleep 60"},
		Ready: always(false), StartTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "mute") {
		t.Fatalf("err = %v, want ErrNotReady", err)
	}
}

func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Start(ctx, Spec{Name: "mute", Bin: "sh", Args: []string{"-c", "exec sleep 60"}, Ready: always(false)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestStopEndsWithSIGTERM(t *testing.T) {
	p, err := Start(context.Background(), Spec{Name: "sleeper", Bin: "sleep", Args: []string{"60"}, Ready: always(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Alive(); !errors.Is(err, ErrExited) {
		t.Errorf("after Stop: Alive = %v, want ErrExited", err)
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	var tl tail
	if tl.String() != "(no output)" {
		t.Errorf("empty tail %q", tl.String())
	}
	_, _ = tl.Write([]byte(strings.Repeat("a", TailBytes)))
	_, _ = tl.Write([]byte("the end"))
	got := tl.String()
	if len(got) != TailBytes || !strings.HasSuffix(got, "the end") {
		t.Errorf("tail of %d bytes ending %q", len(got), got[len(got)-10:])
	}
}

func TestSpecs(t *testing.T) {
	s, err := Sidecar("bin/cpen-extproc", "cat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(s.Args, "--grpc-addr")
	if s.Bin != "bin/cpen-extproc" || i < 0 || s.Args[i+1] != s.Addr || !slices.Contains(s.Args, "cat.yaml") || s.Ready == nil {
		t.Errorf("sidecar spec %+v", s)
	}
	n, err := Noop("bin/noop-extproc")
	if err != nil {
		t.Fatal(err)
	}
	if n.Bin != "bin/noop-extproc" || !slices.Equal(n.Args, []string{"--grpc-addr", n.Addr}) || n.Ready == nil {
		t.Errorf("noop spec %+v", n)
	}
}
