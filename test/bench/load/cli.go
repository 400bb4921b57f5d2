package load

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// Main is the extproc-load command: one load run against a running
// ext_proc server, reported as a table (and a JSON line with --json).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("extproc-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: extproc-load [flags]\n\nPlays Envoy's ext_proc client for POST /v1/chat/completions against --target, closed loop.")
		fs.PrintDefaults()
	}
	cfg := Config{}
	fs.StringVar(&cfg.Target, "target", "127.0.0.1:50051", "ext_proc server address (host:port or unix:/path)")
	fs.IntVar(&cfg.PID, "pid", 0, "server process id for CPU and RSS from /proc (0: not measured)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "closed-loop workers (streams in flight)")
	fs.IntVar(&cfg.Conns, "conns", 4, "HTTP/2 connections; streams go round-robin over them")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
	fs.Int64Var(&cfg.Requests, "requests", 0, "measure exactly this many exchanges instead of a --duration window")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "load before the measured window, not counted")
	fs.StringVar(&cfg.Key, "key", DefaultKey, "client API key sent as Authorization: Bearer")
	reqFile := fs.String("req-body", "", "request body `file` (default: the embedded 2 KiB chat request)")
	respFile := fs.String("resp-body", "", "response body `file` (default: the embedded 600 B chat.completion)")
	reqSize := fs.Int("req-size", 0, "generate a chat request of this many `bytes` instead (e.g. 204800)")
	respSize := fs.Int("resp-size", 0, "generate a chat.completion of this many `bytes` instead (e.g. 1048576)")
	asJSON := fs.Bool("json", false, "also print the result as one JSON line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Requests != 0 {
		durationSet := false
		fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
		if durationSet {
			return fmt.Errorf("%w: --requests and --duration both given", ErrRunLength)
		}
		cfg.Duration = 0 // the default window gives way to the count
	}
	var err error
	if cfg.ReqBody, err = body(*reqFile, *reqSize, DefaultRequest, ChatRequest); err != nil {
		return fmt.Errorf("--req-body: %w", err)
	}
	if cfg.RespBody, err = body(*respFile, *respSize, DefaultResponse, ChatResponse); err != nil {
		return fmt.Errorf("--resp-body: %w", err)
	}
	res, err := Run(ctx, cfg)
	if err != nil && !errors.Is(err, ErrNoExchanges) {
		return err
	}
	WriteReport(stdout, cfg, res)
	if *asJSON {
		line, jerr := json.Marshal(Record{Target: cfg.Target, Conns: cfg.Conns,
			ReqBytes: len(cfg.ReqBody), RespBytes: len(cfg.RespBody), Result: res})
		if jerr != nil {
			return fmt.Errorf("encode result: %w", jerr)
		}
		fmt.Fprintf(stdout, "%s\n", line)
	}
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d exchanges failed; first: %s", res.Errors, res.FirstError)
	}
	return nil
}

// Record is a Result with the run's shape, for JSON lines.
type Record struct {
	Label     string `json:"label,omitempty"`
	Target    string `json:"target,omitempty"`
	Conns     int    `json:"conns,omitempty"`
	ReqBytes  int    `json:"req_bytes"`
	RespBytes int    `json:"resp_bytes"`
	Result
}

func body(file string, size int, def func() []byte, gen func(int) []byte) ([]byte, error) {
	switch {
	case file != "" && size > 0:
		return nil, errors.New("give a file or a size, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return b, nil
	case size > 0:
		return gen(size), nil
	}
	return def(), nil
}

// WriteReport prints one run as a small human table.
func WriteReport(w io.Writer, cfg Config, r Result) {
	bound := ""
	if cfg.Requests > 0 {
		bound = fmt.Sprintf(" for %d requests", cfg.Requests)
	}
	fmt.Fprintf(w, "target %s  concurrency %d  conns %d  window %v%s (warmup %v)  request %s  response %s\n",
		cfg.Target, cfg.Concurrency, cfg.Conns, r.Window.Round(time.Millisecond), bound, cfg.Warmup,
		Bytes(int64(len(cfg.ReqBody))), Bytes(int64(len(cfg.RespBody))))
	fmt.Fprintf(w, "  exchanges   %d  (%.0f/s)  errors %d\n", r.Exchanges, r.Rate, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error %s\n", r.FirstError)
	}
	l := r.Latency
	fmt.Fprintf(w, "  latency     p50 %s  p90 %s  p99 %s  max %s\n", Dur(l.P50), Dur(l.P90), Dur(l.P99), Dur(l.Max))
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "  server      pid %d  cpu %s/exchange  %.2f cores  rss %s  (peak %s)\n",
			s.PID, Dur(s.CPUPerExchange), r.Cores(s.CPU), Bytes(s.RSS), Bytes(s.Peak))
		if s.CPU == 0 && r.Exchanges > 0 {
			fmt.Fprintf(w, "  warning     pid %d used no CPU in the window: is it the server?\n", s.PID)
		}
	}
	fmt.Fprintf(w, "  generator   cpu %s/exchange  %.2f of %d cores; other processes %.2f cores\n",
		Dur(r.GenCPUPerExchange), r.Cores(r.GenCPU), runtime.NumCPU(), r.Cores(r.Other()))
}

// Dur prints a duration with three significant digits in µs or ms.
func Dur(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case us < 10:
		return fmt.Sprintf("%.2fµs", us)
	case us < 1000:
		return fmt.Sprintf("%.1fµs", us)
	case us < 10000:
		return fmt.Sprintf("%.2fms", us/1000)
	}
	return fmt.Sprintf("%.1fms", us/1000)
}

// Bytes prints a size in B, KiB or MiB.
func Bytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%dB", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
}
