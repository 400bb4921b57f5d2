package icount

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cpen/router/test/bench/load"
)

// row is one body set's result.
type row struct {
	Bodies    string       `json:"bodies"`
	ReqBytes  int          `json:"req_bytes"`
	RespBytes int          `json:"resp_bytes"`
	Warmup    int64        `json:"warmup_exchanges"`
	Floor     serverResult `json:"floor"`
	Sidecar   serverResult `json:"sidecar"`
	// Ratio is sidecar over floor instructions per exchange, two
	// decimals, written as a JSON number.
	Ratio string `json:"-"`
	// Misses are sidecar over floor misses per exchange, with the cache
	// simulation.
	Misses missRatios `json:"-"`
}

// record is a row as a JSON line.
type record struct {
	Concurrency int    `json:"concurrency"`
	Conns       int    `json:"conns"`
	Key         string `json:"key"`
	row
	Ratio json.Number `json:"ratio"`
	// MissRatios are there with the cache simulation.
	MissRatios *missRatios `json:"miss_ratios,omitempty"`
}

func writeReport(w io.Writer, o options, rows []row, took time.Duration) error {
	fmt.Fprintf(w, "\ninstructions per ext_proc exchange (callgrind Ir, long run minus short run), %d in flight over %d connections, key %s\n",
		o.concurrency, o.conns, o.key)
	fmt.Fprintf(w, "%-9s %8s %8s %18s %20s %6s  %s\n",
		"bodies", "request", "response", "floor instr/exch", "sidecar instr/exch", "ratio", "exchanges counted (long - short)")
	for _, r := range rows {
		fmt.Fprintf(w, "%-9s %8s %8s %18s %20s %6s  %s\n", r.Bodies,
			load.Bytes(int64(r.ReqBytes)), load.Bytes(int64(r.RespBytes)),
			group(r.Floor.PerExchange), group(r.Sidecar.PerExchange), r.Ratio, counted(r))
	}
	if o.cacheSim {
		writeMisses(w, rows)
	}
	for _, r := range rows {
		if r.Sidecar.LongDump != "" {
			fmt.Fprintf(w, "%s: the sidecar's long-run dump, for callgrind_annotate: %s\n", r.Bodies, r.Sidecar.LongDump)
		}
	}
	fmt.Fprintf(w, "took %v\n", took.Round(time.Second))
	if !o.json {
		return nil
	}
	enc := json.NewEncoder(w)
	for _, r := range rows {
		rec := record{Concurrency: o.concurrency, Conns: o.conns, Key: o.key, row: r, Ratio: json.Number(r.Ratio)}
		if o.cacheSim {
			rec.MissRatios = &r.Misses
		}
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
	}
	return nil
}

// writeMisses is the table of simulated cache misses per exchange.
func writeMisses(w io.Writer, rows []row) {
	fmt.Fprintf(w, "\nsimulated cache misses per exchange (callgrind --cache-sim: L1 instruction and data %s, last level %s as one core's L2; size,ways,line)\n",
		l1Geometry, llGeometry)
	fmt.Fprintf(w, "%-9s %9s %9s %6s  %9s %9s %6s  %9s %9s %6s\n", "bodies",
		"L1i floor", "sidecar", "ratio", "L1d floor", "sidecar", "ratio", "L2 floor", "sidecar", "ratio")
	for _, r := range rows {
		f, s, q := r.Floor.MissesPerExchange, r.Sidecar.MissesPerExchange, r.Misses
		fmt.Fprintf(w, "%-9s %9s %9s %6s  %9s %9s %6s  %9s %9s %6s\n", r.Bodies,
			group(f.L1i), group(s.L1i), q.L1i, group(f.L1d), group(s.L1d), q.L1d, group(f.LL), group(s.LL), q.LL)
	}
}

// counted is the exchanges the figures rest on, per server when the two
// differ (they do not when every exchange succeeded).
func counted(r row) string {
	f, s := r.Floor, r.Sidecar
	if f.Short.Exchanges == s.Short.Exchanges && f.Long.Exchanges == s.Long.Exchanges {
		return fmt.Sprintf("%d (%d - %d)", f.Exchanges, f.Long.Exchanges, f.Short.Exchanges)
	}
	return fmt.Sprintf("floor %d (%d - %d), sidecar %d (%d - %d)",
		f.Exchanges, f.Long.Exchanges, f.Short.Exchanges, s.Exchanges, s.Long.Exchanges, s.Short.Exchanges)
}

// group writes n with thousands separators.
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
