// Command ab is the A/B runner of the ext_proc benchmarks. It starts
// bin/cpen-extproc (on test/bench/testdata/catalog.yaml) and
// bin/noop-extproc on free ports, drives both alternately with
// test/bench/load, and prints per-pair ratios ours/floor; then it measures
// the HTTP latency the sidecar adds behind the Envoy stand-in. It builds
// nothing:
//
//	go build -o bin/cpen-extproc ./extproc/cmd/cpen-extproc
//	go build -o bin/noop-extproc ./test/bench/cmd/noop-extproc
//	go run ./test/bench/cmd/ab --short
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cpen/router/test/bench/ab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := ab.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ab:", err)
		os.Exit(1)
	}
}
