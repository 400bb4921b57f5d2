// Command mkimage builds the cpen-extproc container image without a Docker
// daemon, from a static binary and the Dockerfile's final stage, into a
// tarball that `docker load` reads. `make image` runs it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/cpen/router/test/image"
)

func main() {
	err := image.Main(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
