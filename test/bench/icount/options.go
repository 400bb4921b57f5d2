package icount

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cpen/router/test/bench/load"
)

// ErrUsage is a flag value that cannot be used.
var ErrUsage = errors.New("bad flags")

// counts are the lengths of one body set's runs, in exchanges.
type counts struct {
	warmup, short, long int64
}

// defaultCounts are the run lengths for a body set of size bytes (request
// plus response). A garbage collection costs as much as a few dozen small
// exchanges and falls wherever the heap says, so the difference between
// the runs is off by up to one collection each; the long run is made long
// enough (a dozen collections or more) for that to stay near 1 %. Under
// callgrind the sidecar does about 150 default exchanges a second, 20 with
// a 200 KiB request and 7 with a 1 MiB answer, so large bodies, which
// collect every few exchanges, get fewer exchanges, and a full run of the
// three usual sets stays within a few minutes.
func defaultCounts(size int) counts {
	switch {
	case size <= 64<<10:
		return counts{warmup: 200, short: 200, long: 3000}
	case size <= 256<<10:
		return counts{warmup: 20, short: 40, long: 400}
	}
	return counts{warmup: 10, short: 20, long: 200}
}

// job is one body set with its run lengths.
type job struct {
	bodies load.BodySet
	n      counts
}

// options are the command's settings.
type options struct {
	bin, noopBin, catalog string
	jobs                  []job
	concurrency, conns    int
	key                   string
	settle, startTimeout  time.Duration
	keep                  string
	json                  bool
	cacheSim              bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("icount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: icount [flags]\n\n"+
			"Counts the instructions cpen-extproc (the sidecar) and noop-extproc (the floor) execute per ext_proc\n"+
			"exchange, under valgrind's callgrind: a short and a long run of the same exchanges per server and body\n"+
			"set, instructions per exchange = (Ir long - Ir short) / (exchanges long - exchanges short).\n"+
			"It builds nothing: build --bin and --noop-bin first (make bench-instructions does).")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.bin, "bin", "bin/cpen-extproc", "cpen-extproc binary")
	fs.StringVar(&o.noopBin, "noop-bin", "bin/noop-extproc", "no-op ext_proc server binary (test/bench/cmd/noop-extproc)")
	fs.StringVar(&o.catalog, "catalog", "test/bench/testdata/catalog.yaml", "catalog for cpen-extproc")
	bodies := fs.String("bodies", "default,req200k,resp1m", "comma-separated body sets: "+bodySetNames())
	fs.IntVar(&o.concurrency, "concurrency", 8, "exchanges in flight")
	fs.IntVar(&o.conns, "conns", 2, "HTTP/2 connections the exchanges go round-robin over")
	fs.StringVar(&o.key, "key", load.UnlimitedKey, "client API key (the default has no credit; "+load.DefaultKey+" has)")
	warmup := fs.Int64("warmup-requests", -1, "exchanges before the measured runs, in the start-up dump (default by body size: 200, 200 KiB 20, larger 10)")
	short := fs.Int64("short-requests", 0, "exchanges in the short run (default by body size: 200, 200 KiB 40, larger 20)")
	long := fs.Int64("long-requests", 0, "exchanges in the long run (default by body size: 3000, 200 KiB 400, larger 200)")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after each run before its dump, so the work a server does once a burst is over lands in that run's dump")
	fs.DurationVar(&o.startTimeout, "start-timeout", 2*time.Minute, "how long a server may take to serve under valgrind")
	fs.StringVar(&o.keep, "keep", "", "keep the callgrind dumps in this `dir` (for callgrind_annotate) instead of a temporary one")
	fs.BoolVar(&o.json, "json", false, "also print each body set's result as a JSON line")
	fs.BoolVar(&o.cacheSim, "cache-sim", false, "also count simulated L1 and L2 cache misses per exchange (callgrind --cache-sim; runs take about twice as long)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	switch {
	case o.concurrency < 1 || o.conns < 1:
		return o, fmt.Errorf("%w: --concurrency and --conns must be at least 1", ErrUsage)
	case *warmup < -1 || *short < 0 || *long < 0:
		return o, fmt.Errorf("%w: request counts cannot be negative", ErrUsage)
	case o.settle < 0 || o.startTimeout <= 0:
		return o, fmt.Errorf("%w: --settle cannot be negative and --start-timeout must be positive", ErrUsage)
	case o.key == "":
		return o, fmt.Errorf("%w: --key is empty", ErrUsage)
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(*bodies, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if seen[name] {
			return o, fmt.Errorf("%w: --bodies names %q twice", ErrUsage, name)
		}
		seen[name] = true
		b, err := load.FindBodySet(name)
		if err != nil {
			return o, fmt.Errorf("%w: --bodies: %w", ErrUsage, err)
		}
		n := defaultCounts(len(b.Req) + len(b.Resp))
		if *warmup >= 0 {
			n.warmup = *warmup
		}
		if *short > 0 {
			n.short = *short
		}
		if *long > 0 {
			n.long = *long
		}
		// A short run of at least one exchange carries the fixed costs of a
		// run (connections, end-of-burst work) just as the long one does.
		if n.short < 1 || n.long <= n.short {
			return o, fmt.Errorf("%w: %s: the long run (%d) must have more exchanges than the short run (%d), which needs at least 1",
				ErrUsage, name, n.long, n.short)
		}
		o.jobs = append(o.jobs, job{bodies: b, n: n})
	}
	if len(o.jobs) == 0 {
		return o, fmt.Errorf("%w: --bodies names no body set", ErrUsage)
	}
	return o, nil
}

func bodySetNames() string {
	var names []string
	for _, b := range load.BodySets() {
		names = append(names, b.Name)
	}
	return strings.Join(names, ", ")
}
