// Command icount counts the instructions bin/cpen-extproc and
// bin/noop-extproc execute per ext_proc exchange under valgrind's
// callgrind, per body set, and prints their ratio. It builds nothing
// (make bench-instructions builds both servers first):
//
//	go run ./test/bench/cmd/icount --bodies default --keep /tmp/icount
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cpen/router/test/bench/icount"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := icount.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "icount:", err)
		os.Exit(1)
	}
}
