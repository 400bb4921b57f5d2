// Command cpen-extproc is the CPEN Router ext_proc sidecar.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cpen/router/extproc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// SIGHUP re-reads the catalog file.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	err := extproc.Main(ctx, os.Args[1:], os.Stderr, hup)
	signal.Stop(hup)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpen-extproc:", err)
		os.Exit(1)
	}
}
