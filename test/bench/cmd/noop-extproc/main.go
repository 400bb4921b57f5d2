// Command noop-extproc is the floor of the ext_proc benchmarks: an ext_proc
// server that answers CONTINUE to every message.
//
//	go run ./test/bench/cmd/noop-extproc --grpc-addr 127.0.0.1:50052
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cpen/router/test/bench/noop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := noop.Main(ctx, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "noop-extproc:", err)
		os.Exit(1)
	}
}
