package icount

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseIr(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    uint64
		wantErr error
	}{
		{name: "complete dump", file: "complete.cg", want: 10826018},
		{name: "Ir among other events", file: "several_events.cg", want: 5000},
		{name: "trailing zero count left out", file: "trailing_zero.cg", want: 0},
		{name: "no totals yet", file: "incomplete.cg", wantErr: ErrIncompleteDump},
		{name: "no events line", file: "no_events.cg", wantErr: ErrDumpFormat},
		{name: "no Ir event", file: "no_ir.cg", wantErr: ErrDumpFormat},
		{name: "summary and totals disagree", file: "summary_mismatch.cg", wantErr: ErrDumpFormat},
		{name: "count not a number", file: "bad_count.cg", wantErr: ErrDumpFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseIr(b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Ir = %d, want %d", got, tt.want)
			}
		})
	}
}

// A dump cut anywhere before its last line is incomplete, never a wrong
// count.
func TestParseIrTruncated(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "complete.cg"))
	if err != nil {
		t.Fatal(err)
	}
	last := len(b) - len("totals: 10826018\n")
	for n := range last {
		if _, err := ParseIr(b[:n]); !errors.Is(err, ErrIncompleteDump) && !errors.Is(err, ErrDumpFormat) {
			t.Fatalf("first %d bytes: err = %v, want ErrIncompleteDump or ErrDumpFormat", n, err)
		}
	}
}

func TestDumpPaths(t *testing.T) {
	if got := dumpPath("/tmp/x", 4242, 3); got != "/tmp/x/cg.4242.3" {
		t.Errorf("dumpPath = %s", got)
	}
	if got := basePath("/tmp/x", 4242); got != "/tmp/x/cg.4242" {
		t.Errorf("basePath = %s", got)
	}
	args := callgrindArgs("/tmp/x", false)
	if len(args) != 2 || args[0] != "--tool=callgrind" || args[1] != "--callgrind-out-file=/tmp/x/cg.%p" {
		t.Errorf("callgrindArgs = %q", args)
	}
	got := strings.Join(callgrindArgs("/tmp/x", true), " ")
	want := "--tool=callgrind --callgrind-out-file=/tmp/x/cg.%p --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=524288,8,64"
	if got != want {
		t.Errorf("callgrindArgs with the cache simulation = %s, want %s", got, want)
	}
}

func TestParseMisses(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		want      Misses
		simulated bool
		wantErr   error
	}{
		// I1mr 70, D1mr 30 + D1mw 12, ILmr 2 + DLmr 5 + DLmw 0 (left out).
		{name: "cache simulation", file: "cache_sim.cg", want: Misses{L1i: 70, L1d: 42, LL: 7}, simulated: true},
		{name: "no cache events", file: "several_events.cg"},
		{name: "some cache events only", file: "cache_partial.cg"},
		{name: "no totals yet", file: "incomplete.cg", wantErr: ErrIncompleteDump},
		{name: "summary and totals disagree on a miss count", file: "cache_mismatch.cg", wantErr: ErrDumpFormat},
		{name: "more counts than events", file: "cache_extra_count.cg", wantErr: ErrDumpFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, simulated, err := ParseMisses(b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want || simulated != tt.simulated {
				t.Errorf("ParseMisses = %+v, %v; want %+v, %v", got, simulated, tt.want, tt.simulated)
			}
		})
	}
}
