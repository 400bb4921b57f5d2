package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoExchanges is returned when not one exchange succeeded in the
// measured window.
var ErrNoExchanges = errors.New("no successful exchange in the measured window")

// ErrRunLength is a run given neither or both of a duration and a request
// count, or a negative one.
var ErrRunLength = errors.New("a run needs either a positive duration or a positive request count")

// drainTimeout bounds how long Drive waits, after the window, for the
// exchanges in flight to finish before it cancels them.
const drainTimeout = 30 * time.Second

// errorBackoff keeps a worker whose exchanges fail at once (server down)
// from spinning.
const errorBackoff = 10 * time.Millisecond

// Exchange performs one exchange for worker (0 <= worker < concurrency)
// and returns its latency. It is called by several goroutines at once.
type Exchange func(ctx context.Context, worker int) (time.Duration, error)

// DriveConfig shapes a closed-loop run.
type DriveConfig struct {
	// Concurrency is the number of workers, each doing one exchange after
	// the other.
	Concurrency int
	// Warmup runs before the measured window and is not counted.
	Warmup time.Duration
	// Duration is the measured window. Exactly one of Duration and
	// Requests is set.
	Duration time.Duration
	// Requests bounds the measured part by count instead of time: exactly
	// this many exchanges are started after the warmup (failed ones
	// included), and the window closes when the last of them finishes.
	// Counting is exact where a time window is not: the work a server
	// does for one run is then known to the exchange.
	Requests int64
	// PID is the server process whose CPU and memory are read from /proc;
	// 0 skips them.
	PID int
}

// Result is what one run measured.
type Result struct {
	Concurrency int `json:"concurrency"`
	// Exchanges completed successfully inside the measured window.
	Exchanges int64 `json:"exchanges"`
	// Errors counts failed exchanges during warmup and window (shutdown
	// cancellations excluded); FirstError is the first one's text.
	Errors     int64         `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Window     time.Duration `json:"window_ns"`
	Rate       float64       `json:"exchanges_per_s"`
	Latency    Latency       `json:"latency"`

	// Server is filled when DriveConfig.PID is set.
	Server *ServerStats `json:"server,omitempty"`
	// GenCPU is this process's CPU time over the window: the load
	// generator, and anything else running in it.
	GenCPU            time.Duration `json:"gen_cpu_ns"`
	GenCPUPerExchange time.Duration `json:"gen_cpu_per_exchange_ns"`
	// MachineCPU is the busy time of all CPUs over the window (0 when
	// /proc/stat is unreadable). What neither the server nor the generator
	// used (Other) was taken by other processes and skews the run.
	MachineCPU time.Duration `json:"machine_cpu_ns"`

	// lat is the window's latencies in ascending order, which Merge pools.
	lat []time.Duration
}

// summarize sets what follows from the window's latencies (which it
// sorts and keeps), its exchanges, its length and its CPU times.
func (r *Result) summarize(lat []time.Duration) {
	r.Latency = Summarize(lat)
	r.lat = lat
	if r.Window > 0 {
		r.Rate = float64(r.Exchanges) / r.Window.Seconds()
	}
	if r.Exchanges > 0 {
		r.GenCPUPerExchange = r.GenCPU / time.Duration(r.Exchanges)
		if r.Server != nil {
			r.Server.CPUPerExchange = r.Server.CPU / time.Duration(r.Exchanges)
		}
	}
}

// Other is the machine's busy CPU time over the window that neither the
// server (when measured) nor this process used; never negative.
func (r *Result) Other() time.Duration {
	o := r.MachineCPU - r.GenCPU
	if r.Server != nil {
		o -= r.Server.CPU
	}
	if r.MachineCPU == 0 || o < 0 {
		return 0
	}
	return o
}

// ServerStats is the server process's share of a run.
type ServerStats struct {
	PID            int           `json:"pid"`
	CPU            time.Duration `json:"cpu_ns"` // utime+stime over the window
	CPUPerExchange time.Duration `json:"cpu_per_exchange_ns"`
	RSS            int64         `json:"rss_bytes"`  // VmRSS after the run
	Peak           int64         `json:"peak_bytes"` // VmHWM after the run
}

// Cores is the average number of CPUs a process used over the window.
func (r *Result) Cores(cpu time.Duration) float64 {
	if r.Window <= 0 {
		return 0
	}
	return cpu.Seconds() / r.Window.Seconds()
}

// worker is one closed-loop worker's private record; Drive reads it only
// after the worker has stopped.
type worker struct {
	lat   []time.Duration
	errs  int64
	first error
}

// Drive runs ex in Concurrency closed loops: Warmup first, then the
// measured Duration (or Requests exchanges), during which it counts
// successful exchanges, keeps their latencies and samples CPU (server and
// own) at both ends. Then each worker finishes its exchange in flight and
// stops: cutting exchanges short would look like failed requests to the
// server (and, for cpen-extproc, eject routes for the next run). A
// cancelled ctx ends the run early with ctx's error.
func Drive(ctx context.Context, cfg DriveConfig, ex Exchange) (Result, error) {
	if cfg.Concurrency < 1 {
		return Result{}, fmt.Errorf("concurrency must be at least 1, got %d", cfg.Concurrency)
	}
	switch {
	case cfg.Duration < 0 || cfg.Requests < 0:
		return Result{}, fmt.Errorf("%w: duration %v, requests %d", ErrRunLength, cfg.Duration, cfg.Requests)
	case (cfg.Duration > 0) == (cfg.Requests > 0):
		return Result{}, fmt.Errorf("%w: give one of them, got duration %v and requests %d", ErrRunLength, cfg.Duration, cfg.Requests)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var measuring, finish atomic.Bool
	var tickets *atomic.Int64
	if cfg.Requests > 0 {
		tickets = new(atomic.Int64)
		tickets.Store(cfg.Requests)
	}
	// Without a warmup, measuring is on before the first exchange starts,
	// so that none runs uncounted.
	var begin mark
	var err error
	if cfg.Warmup <= 0 {
		if begin, err = startWindow(cfg.PID, &measuring); err != nil {
			return Result{}, err
		}
	}
	workers := make([]worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.lat = make([]time.Duration, 0, 4096)
		wg.Go(func() { w.loop(wctx, i, ex, &measuring, &finish, tickets) })
	}
	stopped := make(chan struct{})
	go func() {
		wg.Wait()
		close(stopped)
	}()
	if cfg.Warmup > 0 {
		if err = sleep(ctx, cfg.Warmup); err == nil {
			begin, err = startWindow(cfg.PID, &measuring)
		}
	}
	var res Result
	if err == nil {
		res, err = begin.endWindow(ctx, cfg, &measuring, stopped)
	}
	finish.Store(true)
	select {
	case <-stopped:
	case <-time.After(drainTimeout):
		stop()
		<-stopped
	}
	if err != nil {
		return Result{}, err
	}

	res.Concurrency = cfg.Concurrency
	n := 0
	for i := range workers {
		n += len(workers[i].lat)
	}
	all := make([]time.Duration, 0, n)
	for i := range workers {
		w := &workers[i]
		all = append(all, w.lat...)
		res.Errors += w.errs
		if w.first != nil && res.FirstError == "" {
			res.FirstError = w.first.Error()
		}
	}
	res.Exchanges = int64(len(all))
	res.summarize(all)
	if cfg.PID != 0 {
		mem, err := ReadProcMem(cfg.PID)
		if err != nil {
			return res, err
		}
		res.Server.RSS, res.Server.Peak = mem.RSS, mem.Peak
	}
	if res.Exchanges == 0 {
		if res.FirstError != "" {
			return res, fmt.Errorf("%w (first error: %s)", ErrNoExchanges, res.FirstError)
		}
		return res, ErrNoExchanges
	}
	return res, nil
}

// loop runs exchanges until the run is over. With tickets (a count-bounded
// run), each exchange started once measuring is on takes one, and the
// worker stops when none is left; only ticketed exchanges are counted, so
// one started during the warmup and finishing inside the window is not.
func (w *worker) loop(ctx context.Context, id int, ex Exchange, measuring, finish *atomic.Bool, tickets *atomic.Int64) {
	for ctx.Err() == nil && !finish.Load() {
		ticketed := false
		if tickets != nil && measuring.Load() {
			if tickets.Add(-1) < 0 {
				return
			}
			ticketed = true
		}
		lat, err := ex(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return // the run is over; this exchange was cut short
			}
			w.errs++
			if w.first == nil {
				w.first = err
			}
			_ = sleep(ctx, errorBackoff)
			continue
		}
		if ticketed || (tickets == nil && measuring.Load()) {
			w.lat = append(w.lat, lat)
		}
	}
}

// mark is where the measured window starts: the time, the CPU samples
// taken right there.
type mark struct {
	at        time.Time
	srv, self ProcCPU
	machine   time.Duration
}

// startWindow samples CPU and turns measuring on.
func startWindow(pid int, measuring *atomic.Bool) (mark, error) {
	srv, self, machine, err := sample(pid)
	if err != nil {
		return mark{}, err
	}
	m := mark{at: time.Now(), srv: srv, self: self, machine: machine}
	measuring.Store(true)
	return m, nil
}

// endWindow waits out Duration, or, when the run is bounded by Requests,
// until every worker has stopped (stopped closed); then it turns measuring
// off and samples CPU again.
func (m mark) endWindow(ctx context.Context, cfg DriveConfig, measuring *atomic.Bool, stopped <-chan struct{}) (Result, error) {
	var err error
	if cfg.Requests > 0 {
		err = waitStopped(ctx, stopped)
	} else {
		err = sleep(ctx, cfg.Duration)
	}
	measuring.Store(false)
	t1 := time.Now()
	if err != nil {
		return Result{}, err
	}
	srv1, self1, mach1, err := sample(cfg.PID)
	if err != nil {
		return Result{}, err
	}
	res := Result{Window: t1.Sub(m.at), GenCPU: self1.Total() - m.self.Total()}
	if m.machine > 0 && mach1 > 0 {
		res.MachineCPU = mach1 - m.machine
	}
	if cfg.PID != 0 {
		res.Server = &ServerStats{PID: cfg.PID, CPU: srv1.Total() - m.srv.Total()}
	}
	return res, nil
}

// sample reads the server's, this process's and the machine's CPU time;
// the machine's is optional (0 when unreadable).
func sample(pid int) (srv, self ProcCPU, machine time.Duration, err error) {
	if pid != 0 {
		if srv, err = ReadProcCPU(pid); err != nil {
			return srv, self, 0, err
		}
	}
	if self, err = SelfCPU(); err != nil {
		return srv, self, 0, err
	}
	machine, _ = ReadMachineCPU()
	return srv, self, machine, nil
}

func waitStopped(ctx context.Context, stopped <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stopped:
		return nil
	}
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
