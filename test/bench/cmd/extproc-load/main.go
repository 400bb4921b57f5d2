// Command extproc-load plays Envoy's ext_proc client for the chat path
// against a running ext_proc server, closed loop, and reports throughput,
// latency per exchange, and the server's CPU per exchange and RSS:
//
//	go run ./test/bench/cmd/extproc-load --target 127.0.0.1:50051 --pid $(pgrep -n cpen-extproc) --concurrency 16
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cpen/router/test/bench/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := load.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "extproc-load:", err)
		os.Exit(1)
	}
}
