// Package ab is the A/B runner of the ext_proc benchmarks: it starts
// cpen-extproc (A, "ours") and the no-op ext_proc server (B, "floor"),
// drives both with the same load, alternating A B A B, and reports ratios
// per pair; optionally it also measures the HTTP-level latency the sidecar
// adds behind the Envoy stand-in.
package ab

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cpen/router/test/bench/load"
	"github.com/cpen/router/test/bench/serverproc"
)

// errLegFailed is a run in which some exchanges failed.
var errLegFailed = errors.New("exchanges failed")

// minSlice is the shortest measured slice of a leg: shorter, the CPU
// samples at its ends (10 ms clock ticks) weigh too much.
const minSlice = 50 * time.Millisecond

// sliceWarmup is the warmup before every slice of a leg but its first,
// which has the full --warmup: the server is warm by then, but the
// exchanges of the other side's slice have just left its caches.
const sliceWarmup = 250 * time.Millisecond

// Case is one configuration of the matrix.
type Case struct {
	Concurrency int
	Bodies      load.BodySet
}

// baseline reports whether the case has the default bodies, the baseline
// of the scaling comparison.
func (c Case) baseline() bool { return c.Bodies.Name == load.DefaultBodySet }

func (c Case) String() string { return fmt.Sprintf("c=%-3d %s", c.Concurrency, c.Bodies.Name) }

// options are the runner's settings.
type options struct {
	bin, noopBin, catalog string
	short                 bool
	reps                  int
	cases                 []Case
	conns                 int
	warmup, duration      time.Duration
	slices                int
	key                   string
	httpConc              []int
	httpDuration          time.Duration
	jsonFile              string
	verbose               bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("ab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ab [flags]\n\nA/B run of cpen-extproc (ours) against the no-op ext_proc server (floor).\nIt builds nothing: build --bin and --noop-bin first.")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.bin, "bin", "bin/cpen-extproc", "cpen-extproc binary")
	fs.StringVar(&o.noopBin, "noop-bin", "bin/noop-extproc", "no-op ext_proc server binary (test/bench/cmd/noop-extproc)")
	fs.StringVar(&o.catalog, "catalog", "test/bench/testdata/catalog.yaml", "catalog for cpen-extproc (the demo key needs a huge rpm_limit)")
	fs.BoolVar(&o.short, "short", false, "short run, about 2 minutes: c=1, c=16 and c=64 with the default bodies, c=16 with the 1 MiB response; 2 pairs of 4 s legs")
	reps := fs.Int("reps", 0, "A/B pairs per configuration (default 3, --short 2)")
	conc := fs.String("concurrency", "", "comma-separated concurrencies (default 1,16,64, --short too)")
	bodies := fs.String("bodies", "", "comma-separated body sets: default, req200k, req1m, resp200k, resp1m (default: default,req200k,resp1m; --short default)")
	extra := fs.String("extra", "", "more configurations as conc:bodies, comma-separated (--short default 16:resp1m)")
	fs.IntVar(&o.conns, "conns", 4, "HTTP/2 connections per leg")
	warmup := fs.Duration("warmup", 0, "warmup per leg (default 2s, --short 1s)")
	duration := fs.Duration("duration", 0, "measured window per leg (default 10s, --short 4s)")
	fs.IntVar(&o.slices, "slices", 0, "a pair's two legs run in turns, each measured in this many slices of duration/slices, "+
		"so the machine's drift falls on both sides alike (default 5, --short 4; 1: one leg after the other)")
	fs.StringVar(&o.key, "key", load.DefaultKey, "client API key")
	httpConc := fs.String("http-concurrency", "1,16", "concurrencies of the HTTP-overhead runs; empty skips them")
	httpDuration := fs.Duration("http-duration", 0, "window per HTTP-overhead leg (default 5s, --short 2s)")
	fs.StringVar(&o.jsonFile, "json", "", "also write every leg as a JSON line to this `file`")
	fs.BoolVar(&o.verbose, "v", false, "report progress on stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Flags left unset take the long or the short run's default.
	str := func(v *string, name, long, short string) {
		if !set[name] {
			*v = choose(o.short, short, long)
		}
	}
	dur := func(v *time.Duration, long, short time.Duration) {
		if *v == 0 {
			*v = choose(o.short, short, long)
		}
	}
	// c=16 and c=64 carry the CPU budget, so the short run has both.
	str(conc, "concurrency", "1,16,64", "1,16,64")
	str(bodies, "bodies", "default,req200k,resp1m", "default")
	str(extra, "extra", "", "16:resp1m")
	o.reps = *reps
	if o.reps == 0 {
		o.reps = choose(o.short, 2, 3)
	}
	o.warmup, o.duration, o.httpDuration = *warmup, *duration, *httpDuration
	dur(&o.warmup, 2*time.Second, time.Second)
	dur(&o.duration, 10*time.Second, 4*time.Second)
	dur(&o.httpDuration, 5*time.Second, 2*time.Second)
	if o.slices == 0 {
		o.slices = choose(o.short, 4, 5)
	}
	if o.reps < 1 || o.conns < 1 || o.slices < 1 {
		return o, errors.New("--reps, --conns and --slices must be at least 1")
	}
	if o.duration/time.Duration(o.slices) < minSlice {
		return o, fmt.Errorf("--duration %v in %d slices: a slice must last at least %v", o.duration, o.slices, minSlice)
	}
	concs, err := ints(*conc)
	if err != nil {
		return o, fmt.Errorf("--concurrency: %w", err)
	}
	// Body-major order: every default-body case runs before any large body
	// has grown ours' heap, so the RSS after c=64 default is its own.
	for _, name := range list(*bodies) {
		b, err := load.FindBodySet(name)
		if err != nil {
			return o, fmt.Errorf("--bodies: %w", err)
		}
		for _, c := range concs {
			o.cases = append(o.cases, Case{Concurrency: c, Bodies: b})
		}
	}
	for _, e := range list(*extra) {
		cs, name, ok := strings.Cut(e, ":")
		c, err := strconv.Atoi(cs)
		if !ok || err != nil || c < 1 {
			return o, fmt.Errorf("--extra: %q is not conc:bodies", e)
		}
		b, err := load.FindBodySet(name)
		if err != nil {
			return o, fmt.Errorf("--extra: %w", err)
		}
		o.cases = append(o.cases, Case{Concurrency: c, Bodies: b})
	}
	if o.httpConc, err = ints(*httpConc); err != nil {
		return o, fmt.Errorf("--http-concurrency: %w", err)
	}
	if len(o.cases) == 0 && len(o.httpConc) == 0 {
		return o, errors.New("nothing to run: no configuration and no HTTP-overhead concurrency")
	}
	return o, nil
}

func choose[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range list(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// Main runs the A/B matrix, then the HTTP-overhead runs, and prints the
// tables to stdout (progress goes to stderr). It fails if a server could
// not start or any exchange failed.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	var jsonOut io.Writer = io.Discard
	if o.jsonFile != "" {
		f, err := os.Create(o.jsonFile)
		if err != nil {
			return fmt.Errorf("--json: %w", err)
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("--json: %w", cerr)
			}
		}()
		jsonOut = f
	}
	r := &runner{o: o, stdout: stdout, stderr: stderr, json: json.NewEncoder(jsonOut)}
	ours, floor, err := r.startServers(ctx)
	if err != nil {
		return err
	}
	defer func() {
		_ = ours.Stop()
		_ = floor.Stop()
	}()
	r.ours, r.floor = ours, floor

	start := time.Now()
	fmt.Fprintf(stdout, "ext_proc A/B: ours = %s (pid %d), floor = %s (pid %d)\n", o.bin, ours.PID(), o.noopBin, floor.PID())
	fmt.Fprintf(stdout, "%d CPUs; per leg: %v warmup + %v window in %d slices, the pair's legs taking turns slice by slice "+
		"(%v warmup before each later slice); %d HTTP/2 conns; %d A/B pairs per configuration\n",
		runtime.NumCPU(), o.warmup, o.duration, o.slices, min(sliceWarmup, o.warmup), o.conns, o.reps)
	fmt.Fprintf(stdout, "cpu/exch, srv cores: the server's utime+stime (/proc/<pid>/stat) over the window; gen: this load generator;\n"+
		"other: busy CPU of the rest of the machine meanwhile: other processes, hypervisor steal, softirq not charged to a process;\n"+
		"p50/p99/max: stream open to last answer\n\n")
	if len(o.cases) > 0 {
		results, err := r.matrix(ctx)
		if err != nil {
			return err
		}
		oursMem, err := load.ReadProcMem(ours.PID())
		if err != nil {
			return err
		}
		floorMem, err := load.ReadProcMem(floor.PID())
		if err != nil {
			return err
		}
		r.printSummary(results, oursMem, floorMem)
	}

	if len(o.httpConc) > 0 {
		if err := r.httpOverhead(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\ntotal time %v\n", time.Since(start).Round(time.Second))
	r.progress("cpen-extproc output (last %d bytes kept): %s", serverproc.TailBytes, ours.Output())
	if r.failed > 0 {
		return fmt.Errorf("%d %w (see first_error in the tables)", r.failed, errLegFailed)
	}
	return nil
}

// runner holds one A/B session.
type runner struct {
	o              options
	stdout, stderr io.Writer
	json           *json.Encoder
	ours, floor    *serverproc.Process
	failed         int64 // failed exchanges over all legs
}

func (r *runner) startServers(ctx context.Context) (ours, floor *serverproc.Process, err error) {
	oursSpec, err := serverproc.Sidecar(r.o.bin, r.o.catalog)
	if err != nil {
		return nil, nil, err
	}
	floorSpec, err := serverproc.Noop(r.o.noopBin)
	if err != nil {
		return nil, nil, err
	}
	if ours, err = serverproc.Start(ctx, oursSpec); err != nil {
		return nil, nil, err
	}
	if floor, err = serverproc.Start(ctx, floorSpec); err != nil {
		_ = ours.Stop()
		return nil, nil, err
	}
	return ours, floor, nil
}

// pair is one A/B pair of a case.
type pair struct {
	ours, floor load.Result
}

// caseResult is every pair of one case, and ours' memory after it.
type caseResult struct {
	Case
	pairs []pair
	mem   load.ProcMem
}

func (r *runner) matrix(ctx context.Context) ([]caseResult, error) {
	w := r.stdout
	fmt.Fprintf(w, "%-14s %-4s %-6s %8s %9s %9s %9s %10s %9s %10s %9s %6s %6s\n",
		"config", "pair", "side", "exch/s", "p50", "p99", "max", "cpu/exch", "srv cores", "gen/exch", "gen cores", "other", "errors")
	var out []caseResult
	for _, c := range r.o.cases {
		cr := caseResult{Case: c}
		for rep := 1; rep <= r.o.reps; rep++ {
			p, err := r.pair(ctx, c, rep)
			if err != nil {
				return nil, err
			}
			cr.pairs = append(cr.pairs, p)
			label := ""
			if rep == 1 {
				label = c.String()
			}
			r.printLeg(label, rep, "ours", p.ours)
			r.printLeg("", rep, "floor", p.floor)
			fmt.Fprintf(w, "%-14s %-4d %-6s %8s %9s %9s %9s %10s\n", "", rep, "ratio", "",
				ratio(p.ours.Latency.P50, p.floor.Latency.P50), ratio(p.ours.Latency.P99, p.floor.Latency.P99), "",
				ratio(p.ours.Server.CPUPerExchange, p.floor.Server.CPUPerExchange))
		}
		last := cr.pairs[len(cr.pairs)-1].ours.Server
		cr.mem = load.ProcMem{RSS: last.RSS, Peak: last.Peak}
		out = append(out, cr)
	}
	return out, nil
}

// pair runs a pair's two legs in turns: each leg's window is cut into
// slices, and the sides alternate slice by slice in the order ABBA..., the
// floor first in every second pair. The machine drifts (other tenants,
// clock, the heap a leg leaves behind) over seconds; taken in turns, both
// legs see the same drift, where one leg after the other would charge it
// to one side.
func (r *runner) pair(ctx context.Context, c Case, rep int) (pair, error) {
	sides := []*legRun{{name: "ours", proc: r.ours}, {name: "floor", proc: r.floor}}
	if rep%2 == 0 {
		sides[0], sides[1] = sides[1], sides[0]
	}
	for _, s := range sides {
		if err := r.open(ctx, c, s); err != nil {
			closeAll(sides)
			return pair{}, err
		}
	}
	defer closeAll(sides)
	slice := r.o.duration / time.Duration(r.o.slices)
	for k := range r.o.slices {
		warmup := r.o.warmup
		if k > 0 {
			warmup = min(sliceWarmup, r.o.warmup)
		}
		for i := range sides {
			s := sides[(i+k)%2]
			if err := s.proc.Alive(); err != nil {
				return pair{}, err
			}
			r.progress("%s pair %d/%d %s slice %d/%d", c, rep, r.o.reps, s.name, k+1, r.o.slices)
			res, err := s.session.Run(ctx, warmup, slice)
			if err != nil {
				return pair{}, fmt.Errorf("%s %s pair %d slice %d: %w", s.name, c, rep, k+1, err)
			}
			s.slices = append(s.slices, res)
		}
	}
	var p pair
	for _, s := range sides {
		res, err := r.finish(ctx, c, rep, s)
		if err != nil {
			return p, err
		}
		if s.proc == r.ours {
			p.ours = res
		} else {
			p.floor = res
		}
	}
	return p, nil
}

// legRun is one side of a pair while it runs: its server, its session,
// the slices measured so far and the sidecar's own account before them.
type legRun struct {
	name    string
	proc    *serverproc.Process
	session *load.Session
	slices  []load.Result
	before  selfTime
}

// open connects a side's session and reads its own account, if it keeps one.
func (r *runner) open(ctx context.Context, c Case, s *legRun) error {
	if err := s.proc.Alive(); err != nil {
		return err
	}
	if url := s.proc.MetricsURL(); url != "" {
		var err error
		if s.before, err = readSelfTime(ctx, url); err != nil {
			return err
		}
	}
	var err error
	s.session, err = load.Open(load.Config{
		Target: s.proc.Addr(), Conns: r.o.conns, Concurrency: c.Concurrency,
		PID: s.proc.PID(), Key: r.o.key, ReqBody: c.Bodies.Req, RespBody: c.Bodies.Resp,
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.name, c, err)
	}
	return nil
}

func closeAll(sides []*legRun) {
	for _, s := range sides {
		if s.session != nil {
			_ = s.session.Close()
		}
	}
}

// finish merges a side's slices into its leg, and reports and records it.
func (r *runner) finish(ctx context.Context, c Case, rep int, s *legRun) (load.Result, error) {
	res := load.Merge(s.slices...)
	if url := s.proc.MetricsURL(); url != "" {
		after, err := readSelfTime(ctx, url)
		if err != nil {
			return res, err
		}
		// The sidecar's own account of the same exchanges (warmups
		// included), beside the CPU the generator measured from /proc:
		// what it reports in production against what the process cost.
		fmt.Fprintf(r.stdout, "%-14s %-4d %-6s the sidecar's own time per request (cpen_extproc_processing_seconds, total): %s; CPU per exchange: %s\n",
			"", rep, s.name, load.Dur(after.perRequest(s.before)), load.Dur(res.Server.CPUPerExchange))
	}
	r.failed += res.Errors
	label := fmt.Sprintf("%s pair%d %s", strings.Join(strings.Fields(c.String()), " "), rep, s.name)
	return res, r.json.Encode(load.Record{Label: label, Target: s.proc.Name(), Conns: r.o.conns,
		ReqBytes: len(c.Bodies.Req), RespBytes: len(c.Bodies.Resp), Result: res})
}

func (r *runner) progress(format string, args ...any) {
	if r.o.verbose {
		fmt.Fprintf(r.stderr, "ab: "+format+"\n", args...)
	}
}

func (r *runner) printLeg(label string, rep int, side string, res load.Result) {
	fmt.Fprintf(r.stdout, "%-14s %-4d %-6s %8.0f %9s %9s %9s %10s %9.2f %10s %9.2f %6.2f %6d\n",
		label, rep, side, res.Rate, load.Dur(res.Latency.P50), load.Dur(res.Latency.P99), load.Dur(res.Latency.Max),
		load.Dur(res.Server.CPUPerExchange), res.Cores(res.Server.CPU),
		load.Dur(res.GenCPUPerExchange), res.Cores(res.GenCPU), res.Cores(res.Other()), res.Errors)
	if res.FirstError != "" {
		fmt.Fprintf(r.stdout, "%-14s first error: %s\n", "", res.FirstError)
	}
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}
