package extproc

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
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

// idleReturnAbove is how much heap the process must hold beyond its live
// data for a return to be worth a forced collection: after a burst of
// small exchanges there is little to give back, and the collection would
// cost more than the pages are worth.
const idleReturnAbove = 16 << 20

// heapSampleNames are the runtime metrics freeOSMemory reads: the heap the
// process holds from the system (objects, free and unused spans, not yet
// released), and what the last collection found live.
var heapSampleNames = [...]string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/heap/live:bytes",
}

// freeOSMemory is the free of returnMemoryWhenIdle in the process: a
// collection and the return of freed pages, when the heap holds more than
// idleReturnAbove beyond its live data.
func freeOSMemory() {
	var samples [len(heapSampleNames)]metrics.Sample
	for i, n := range heapSampleNames {
		samples[i].Name = n
	}
	metrics.Read(samples[:])
	var held uint64
	for _, s := range samples[:3] {
		held += s.Value.Uint64()
	}
	if worthReturning(held, samples[3].Value.Uint64()) {
		// Buffers kept in sync.Pools (bodies, gRPC frames) outlive one
		// collection in the pools' victim caches: a first collection
		// moves them there, the one FreeOSMemory runs frees them.
		runtime.GC()
		debug.FreeOSMemory()
	}
}

// worthReturning reports whether a heap holding held bytes, live of them,
// has enough to give back.
func worthReturning(held, live uint64) bool {
	return held > live && held-live > idleReturnAbove
}
