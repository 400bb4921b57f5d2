package ab

import (
	"fmt"
	"slices"
	"time"

	"github.com/cpen/router/test/bench/load"
)

// The performance budgets the report checks: CPU and latency ratios and
// RSS after concurrency 64 for the default bodies, RSS after every
// large-body case.
const (
	cpuBudget      = 1.15 // ours/floor CPU per exchange at concurrency 16 and 64
	p50Budget      = 1.10 // ours/floor p50 at concurrency 1
	rssBudget      = 40 << 20
	largeRSSBudget = 80 << 20
)

// noisyCores is how much CPU the rest of the machine may use during a leg
// before the report warns about it.
const noisyCores = 0.25

// caseStats are the medians over a case's pairs.
type caseStats struct {
	cpuRatio, p50Ratio, p99Ratio float64
	oursCPU, floorCPU            time.Duration
}

func (cr caseResult) stats() caseStats {
	var s caseStats
	var cpu, p50, p99 []float64
	var ours, floor []time.Duration
	for _, p := range cr.pairs {
		cpu = append(cpu, div(p.ours.Server.CPUPerExchange, p.floor.Server.CPUPerExchange))
		p50 = append(p50, div(p.ours.Latency.P50, p.floor.Latency.P50))
		p99 = append(p99, div(p.ours.Latency.P99, p.floor.Latency.P99))
		ours = append(ours, p.ours.Server.CPUPerExchange)
		floor = append(floor, p.floor.Server.CPUPerExchange)
	}
	s.cpuRatio, s.p50Ratio, s.p99Ratio = median(cpu), median(p50), median(p99)
	s.oursCPU, s.floorCPU = median(ours), median(floor)
	return s
}

func div(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// median of a small sample; the mean of the middle two for even sizes.
func median[T float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func budget(c Case, s caseStats, rss int64) string {
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "OVER"
	}
	if !c.baseline() {
		return fmt.Sprintf("rss < %s: %s", load.Bytes(largeRSSBudget), verdict(rss < largeRSSBudget))
	}
	cpu := fmt.Sprintf("cpu <= %.2fx: %s", cpuBudget, verdict(s.cpuRatio <= cpuBudget))
	switch c.Concurrency {
	case 1:
		return fmt.Sprintf("p50 <= %.2fx: %s", p50Budget, verdict(s.p50Ratio <= p50Budget))
	case 16:
		return cpu
	case 64:
		return fmt.Sprintf("%s; rss < %s: %s", cpu, load.Bytes(rssBudget), verdict(rss < rssBudget))
	}
	return ""
}

func (r *runner) printSummary(results []caseResult, mem, floor load.ProcMem) {
	w := r.stdout
	fmt.Fprintf(w, "\nsummary: median over %d pairs of ours/floor\n", r.o.reps)
	fmt.Fprintf(w, "%-14s %9s %9s %9s %14s %14s %9s  %s\n",
		"config", "cpu", "p50", "p99", "ours cpu/exch", "floor cpu/exch", "ours rss", "budget")
	for _, cr := range results {
		s := cr.stats()
		fmt.Fprintf(w, "%-14s %8.2fx %8.2fx %8.2fx %14s %14s %9s  %s\n",
			cr.Case, s.cpuRatio, s.p50Ratio, s.p99Ratio, load.Dur(s.oursCPU), load.Dur(s.floorCPU),
			load.Bytes(cr.mem.RSS), budget(cr.Case, s, cr.mem.RSS))
	}
	noisy, legs := 0, 0
	for _, cr := range results {
		for _, p := range cr.pairs {
			for _, res := range []load.Result{p.ours, p.floor} {
				legs++
				if res.Cores(res.Other()) > noisyCores {
					noisy++
				}
			}
		}
	}
	if noisy > 0 {
		fmt.Fprintf(w, "warning: in %d of %d legs the rest of the machine was busy (other > %.2f cores): "+
			"latency ratios are unreliable there; CPU per exchange holds up better\n", noisy, legs, noisyCores)
	}
	fmt.Fprintf(w, "RSS at the end of the matrix: ours %s (peak %s), floor %s (peak %s)\n",
		load.Bytes(mem.RSS), load.Bytes(mem.Peak), load.Bytes(floor.RSS), load.Bytes(floor.Peak))
	r.printScaling(results)
}

// printScaling shows how CPU per exchange grows with body size: for each
// large-body case, CPU per MiB of body (request + response), and the
// marginal cost per MiB over the default bodies at the same concurrency.
// Linear growth shows as similar marginal costs for 200 KiB and 1 MiB.
func (r *runner) printScaling(results []caseResult) {
	base := map[int]caseResult{}
	large := false
	for _, cr := range results {
		if cr.baseline() {
			base[cr.Concurrency] = cr
		} else {
			large = true
		}
	}
	if !large {
		return
	}
	w := r.stdout
	fmt.Fprintf(w, "\nbody size: CPU per MiB of body (request+response); marginal = extra CPU over the default bodies / extra MiB\n")
	fmt.Fprintf(w, "%-14s %9s %14s %14s %14s %16s %17s\n",
		"config", "body", "ours cpu/exch", "floor cpu/exch", "ours per MiB", "ours marginal", "floor marginal")
	for _, cr := range results {
		if cr.baseline() {
			continue
		}
		s := cr.stats()
		mib := bodyMiB(cr.Bodies)
		margOurs, margFloor := "-", "-"
		if b, ok := base[cr.Concurrency]; ok {
			bs := b.stats()
			extra := mib - bodyMiB(b.Bodies)
			margOurs = load.Dur(time.Duration(float64(s.oursCPU-bs.oursCPU)/extra)) + "/MiB"
			margFloor = load.Dur(time.Duration(float64(s.floorCPU-bs.floorCPU)/extra)) + "/MiB"
		}
		fmt.Fprintf(w, "%-14s %9s %14s %14s %14s %16s %17s\n",
			cr.Case, load.Bytes(int64(len(cr.Bodies.Req)+len(cr.Bodies.Resp))), load.Dur(s.oursCPU), load.Dur(s.floorCPU),
			load.Dur(time.Duration(float64(s.oursCPU)/mib))+"/MiB", margOurs, margFloor)
	}
}

func bodyMiB(b load.BodySet) float64 { return float64(len(b.Req)+len(b.Resp)) / (1 << 20) }
