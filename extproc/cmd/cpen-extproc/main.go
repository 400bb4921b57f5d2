// Command cpen-extproc is the CPEN Router ext_proc sidecar.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/cpen/router/extproc"
)

// defaultGCPercent is the collector's target when GOGC is not set. The
// sidecar's live heap is a few MiB, so at Go's default of 100 it collects
// every few MiB allocated, and the collection is a fifth of what an
// exchange costs; at 200 it collects half as often for a few MiB more
// heap. GOGC in the environment still decides.
const defaultGCPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
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
