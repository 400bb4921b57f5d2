package icount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cpen/router/test/bench/load"
	"github.com/cpen/router/test/bench/serverproc"
)

// ErrExchangesFailed is a run with failed exchanges: the server did other
// work than the exchanges it is charged with.
var ErrExchangesFailed = errors.New("exchanges failed")

// The dumps of one measurement, in order: start-up (with the warm-up),
// then the short run, then the long run.
const (
	partStart = 1 + iota
	partShort
	partLong
)

// serverResult is one server's measurement on one body set.
type serverResult struct {
	Server string `json:"server"`
	Short  Sample `json:"short"`
	Long   Sample `json:"long"`
	Cost
	PerExchange uint64 `json:"instr_per_exchange"`
	// MissesPerExchange are counted only with the cache simulation.
	MissesPerExchange Misses `json:"misses_per_exchange,omitzero"`
	// LongDump is the long run's callgrind file; it is only kept with
	// --keep.
	LongDump string `json:"long_dump,omitempty"`
}

// meter measures servers under callgrind.
type meter struct {
	o        options
	tools    tools
	dir      string // where the dumps go
	progress io.Writer
}

// measure starts spec under callgrind, drives a warm-up, a short and a
// long run of j's exchanges with a dump after each, and kills the server.
func (m *meter) measure(ctx context.Context, spec serverproc.Spec, j job) (serverResult, error) {
	spec = spec.Under(m.tools.valgrind, callgrindArgs(m.dir, m.o.cacheSim)...)
	// Go's asynchronous preemption signals break callgrind. Without them
	// a collection's end waits for every P to reach a safe point, and
	// under callgrind, which runs one thread at a time, the waiting Ps
	// spin for whole scheduling quanta: billions of instructions in runs
	// that happen to collect at the wrong moment. One P has nobody to
	// wait for; both servers run so, and the exchange's own work is the
	// same.
	spec.Env = append(spec.Env, "GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=1")
	spec.StartTimeout = m.o.startTimeout
	t0 := time.Now()
	p, err := serverproc.Start(ctx, spec)
	if err != nil {
		return serverResult{}, err
	}
	defer func() {
		// callgrind does not survive a Go program's exit path, so the
		// server is killed; the file callgrind would have filled at exit
		// stays empty and goes.
		_ = p.Kill()
		_ = os.Remove(basePath(m.dir, p.PID()))
	}()
	m.note("%s %s: serving under callgrind after %v (pid %d)", j.bodies.Name, spec.Name, time.Since(t0).Round(100*time.Millisecond), p.PID())

	run := func(part int, requests int64) (Sample, error) {
		var res load.Result
		if requests > 0 {
			var err error
			res, err = load.Run(ctx, load.Config{
				Target: p.Addr(), Conns: m.o.conns, Concurrency: m.o.concurrency, Requests: requests,
				Key: m.o.key, ReqBody: j.bodies.Req, RespBody: j.bodies.Resp,
			})
			if err != nil {
				return Sample{}, fmt.Errorf("%s %s: %w", j.bodies.Name, spec.Name, err)
			}
			if res.Errors > 0 {
				return Sample{}, fmt.Errorf("%s %s: %d %w; first: %s", j.bodies.Name, spec.Name, res.Errors, ErrExchangesFailed, res.FirstError)
			}
		}
		if err := sleep(ctx, m.o.settle); err != nil {
			return Sample{}, err
		}
		if err := p.Alive(); err != nil {
			return Sample{}, err
		}
		ir, misses, err := m.tools.dump(ctx, m.dir, p.PID(), part)
		if err != nil {
			return Sample{}, fmt.Errorf("%s %s: %w", j.bodies.Name, spec.Name, err)
		}
		return Sample{Exchanges: res.Exchanges, Ir: ir, Misses: misses}, nil
	}
	if _, err := run(partStart, j.n.warmup); err != nil {
		return serverResult{}, err
	}
	short, err := run(partShort, j.n.short)
	if err != nil {
		return serverResult{}, err
	}
	long, err := run(partLong, j.n.long)
	if err != nil {
		return serverResult{}, err
	}
	cost, err := PerExchangeCost(short, long)
	if err != nil {
		return serverResult{}, fmt.Errorf("%s %s: %w", j.bodies.Name, spec.Name, err)
	}
	r := serverResult{Server: spec.Name, Short: short, Long: long, Cost: cost, PerExchange: cost.PerExchange(),
		MissesPerExchange: cost.Misses.per(cost.Exchanges)}
	if m.o.keep != "" {
		r.LongDump = dumpPath(m.dir, p.PID(), partLong)
	}
	m.note("%s %s: %d instructions per exchange (%d exchanges, %d instructions)",
		j.bodies.Name, spec.Name, r.PerExchange, cost.Exchanges, cost.Instructions)
	return r, nil
}

func (m *meter) note(format string, args ...any) {
	fmt.Fprintf(m.progress, "icount: "+format+"\n", args...)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
