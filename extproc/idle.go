package extproc

import (
	"context"
	"runtime/debug"
	"time"
)

// idleCheck is how often the process looks for the end of a busy period.
const idleCheck = 2 * time.Second

// streamGauge is what returnMemoryWhenIdle reads of the stream bound.
type streamGauge interface {
	InFlight() int
	Admitted() uint64
}

// returnMemoryWhenIdle hands the memory of a burst back to the system once
// it is over: when no stream is in flight and some were served since the
// last check, it collects and returns freed pages at once. An idle Go
// process allocates nothing, so left alone its heap would stay at the
// burst's peak until the runtime's forced collection minutes later; large
// bodies make that peak hundreds of MiB. It returns when ctx ends.
func returnMemoryWhenIdle(ctx context.Context, g streamGauge, every time.Duration, free func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := g.Admitted(); n != seen && g.InFlight() == 0 {
			seen = n
			free()
		}
	}
}

// freeOSMemory is the free of returnMemoryWhenIdle in the process.
func freeOSMemory() { debug.FreeOSMemory() }
