package icount

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cpen/router/test/bench/load"
	"github.com/cpen/router/test/bench/serverproc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestMainWithoutValgrind(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Main(context.Background(), []string{"--bodies", "default"}, io.Discard, io.Discard)
	if !errors.Is(err, ErrToolMissing) {
		t.Fatalf("err = %v, want ErrToolMissing", err)
	}
	if !strings.Contains(err.Error(), "apt-get install valgrind") {
		t.Errorf("the error does not say how to install valgrind: %v", err)
	}
}

func TestMainBadFlagsBeforeTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if err := Main(context.Background(), []string{"--bodies", "huge"}, io.Discard, io.Discard); !errors.Is(err, ErrUsage) {
		t.Fatalf("err = %v, want ErrUsage", err)
	}
}

// TestMeasureFloorUnderCallgrind runs the whole measurement on the floor
// server, with small counts: start under callgrind, warm-up, short and
// long runs, a dump after each, SIGKILL.
func TestMeasureFloorUnderCallgrind(t *testing.T) {
	if testing.Short() {
		t.Skip("runs valgrind; skipped with -short")
	}
	tl, err := findTools()
	if err != nil {
		t.Skipf("valgrind is needed: %v", err)
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "noop-extproc")
	build := exec.Command("go", "build", "-o", bin, "./test/bench/cmd/noop-extproc")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build noop-extproc: %v\n%s", err, out)
	}
	bodies, err := load.FindBodySet(load.DefaultBodySet)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := &meter{
		o:     options{concurrency: 4, conns: 2, key: load.UnlimitedKey, startTimeout: time.Minute, keep: dir},
		tools: tl, dir: dir, progress: io.Discard,
	}
	spec, err := serverproc.Noop(bin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := m.measure(ctx, spec, job{bodies: bodies, n: counts{warmup: 5, short: 10, long: 30}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Short.Exchanges != 10 || r.Long.Exchanges != 30 || r.Exchanges != 20 {
		t.Errorf("exchanges: short %d, long %d, counted %d; want 10, 30, 20", r.Short.Exchanges, r.Long.Exchanges, r.Exchanges)
	}
	// A no-op exchange through gRPC takes some 10^5 instructions; 10^4 and
	// 10^7 bound it loosely enough for any Go or gRPC version.
	if r.PerExchange < 10_000 || r.PerExchange > 10_000_000 || r.Instructions != r.Long.Ir-r.Short.Ir {
		t.Errorf("result %+v", r)
	}
	b, err := os.ReadFile(r.LongDump)
	if err != nil {
		t.Fatal(err)
	}
	if ir, err := ParseIr(b); err != nil || ir != r.Long.Ir {
		t.Errorf("long dump %s: Ir %d, %v; want %d", r.LongDump, ir, err, r.Long.Ir)
	}
	// Three dumps kept, and no empty file from the killed process.
	files, err := filepath.Glob(filepath.Join(dir, "cg.*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Errorf("files %q, want the three dumps", files)
	}
}
