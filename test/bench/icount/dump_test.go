package icount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeControl writes a callgrind_control stand-in: a shell script run as
// "control -d PID" that executes body.
func fakeControl(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "callgrind_control")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDumpReadsTheNewFile(t *testing.T) {
	fixture, err := filepath.Abs(filepath.Join("testdata", "complete.cg"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// As callgrind does, the dump lands in dir/cg.<pid>.<part>.
	tl := tools{control: fakeControl(t, `[ "$1" = -d ] && cp '`+fixture+`' '`+dir+`'/cg.$2.2`)}
	ir, m, err := tl.dump(context.Background(), dir, 4242, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ir != 10826018 || m != (Misses{}) {
		t.Errorf("Ir = %d, misses %+v; want 10826018 and none", ir, m)
	}
}

func TestDumpReadsTheMisses(t *testing.T) {
	fixture, err := filepath.Abs(filepath.Join("testdata", "cache_sim.cg"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tl := tools{control: fakeControl(t, `cp '`+fixture+`' '`+dir+`'/cg.$2.3`)}
	ir, m, err := tl.dump(context.Background(), dir, 4242, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ir != 5000 || m != (Misses{L1i: 70, L1d: 42, LL: 7}) {
		t.Errorf("Ir = %d, misses %+v; want 5000 and {70 42 7}", ir, m)
	}
}

func TestDumpReportsControlFailure(t *testing.T) {
	tl := tools{control: fakeControl(t, `echo "Error: Callgrind task with PID/name '$2' not detected." >&2; exit 1`)}
	_, _, err := tl.dump(context.Background(), t.TempDir(), 4242, 1)
	if !errors.Is(err, ErrDump) || !strings.Contains(err.Error(), "not detected") {
		t.Fatalf("err = %v, want ErrDump with callgrind_control's output", err)
	}
}

func TestDumpRejectsAMalformedFile(t *testing.T) {
	fixture, err := filepath.Abs(filepath.Join("testdata", "summary_mismatch.cg"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tl := tools{control: fakeControl(t, `cp '`+fixture+`' '`+dir+`'/cg.$2.1`)}
	if _, _, err := tl.dump(context.Background(), dir, 7, 1); !errors.Is(err, ErrDumpFormat) {
		t.Fatalf("err = %v, want ErrDumpFormat", err)
	}
}

func TestDumpStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tl := tools{control: fakeControl(t, `exit 0`)}
	if _, _, err := tl.dump(ctx, t.TempDir(), 7, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
