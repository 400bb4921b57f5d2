// Package icount counts the instructions an ext_proc server executes per
// exchange, under valgrind's callgrind, for cpen-extproc (the sidecar) and
// noop-extproc (the floor), and reports their ratio. CPU time on a shared
// machine swings by tens of percent from run to run; instruction counts
// do not, so a change to the request path shows up even when it is small.
//
// For each body set and each server, a fresh server process runs under
// callgrind. After a warm-up it serves a short and then a long run of the
// same exchanges (count-bounded, so the counts are exact), and callgrind
// dumps its counters after each run; a dump resets them, so each dump
// holds one run. The instructions per exchange are
// (Ir long - Ir short) / (exchanges long - exchanges short): start-up and
// the fixed costs of a run cancel. The load is driven in this process,
// which runs natively.
package icount

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cpen/router/test/bench/serverproc"
)

// Main measures every body set and prints the table (and JSON lines with
// --json) to stdout; progress goes to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	t, err := findTools()
	if err != nil {
		return err
	}
	dir := o.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "icount-"); err != nil {
			return fmt.Errorf("dump directory: %w", err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--keep: %w", err)
	}
	m := &meter{o: o, tools: t, dir: dir, progress: stderr}
	start := time.Now()
	var rows []row
	for _, j := range o.jobs {
		r, err := m.bodySet(ctx, j)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	return writeReport(stdout, o, rows, time.Since(start))
}

// bodySet measures the floor, then the sidecar, on one body set.
func (m *meter) bodySet(ctx context.Context, j job) (row, error) {
	floorSpec, err := serverproc.Noop(m.o.noopBin)
	if err != nil {
		return row{}, err
	}
	floor, err := m.measure(ctx, floorSpec, j)
	if err != nil {
		return row{}, err
	}
	sidecarSpec, err := serverproc.Sidecar(m.o.bin, m.o.catalog)
	if err != nil {
		return row{}, err
	}
	sidecar, err := m.measure(ctx, sidecarSpec, j)
	if err != nil {
		return row{}, err
	}
	ratio, err := Ratio(sidecar.Cost, floor.Cost)
	if err != nil {
		return row{}, fmt.Errorf("%s: %w", j.bodies.Name, err)
	}
	return row{Bodies: j.bodies.Name, ReqBytes: len(j.bodies.Req), RespBytes: len(j.bodies.Resp),
		Warmup: j.n.warmup, Floor: floor, Sidecar: sidecar, Ratio: ratio, Misses: ratiosOf(sidecar.Cost, floor.Cost)}, nil
}
