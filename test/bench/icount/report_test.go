package icount

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestGroup(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 290843: "290,843", 1234567: "1,234,567",
		1<<64 - 1: "18,446,744,073,709,551,615"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %s, want %s", n, got, want)
		}
	}
}

func result(server string, short, long Sample) serverResult {
	c, err := PerExchangeCost(short, long)
	if err != nil {
		panic(err)
	}
	return serverResult{Server: server, Short: short, Long: long, Cost: c, PerExchange: c.PerExchange(),
		MissesPerExchange: c.Misses.per(c.Exchanges)}
}

func TestWriteReport(t *testing.T) {
	rows := []row{
		{Bodies: "default", ReqBytes: 2048, RespBytes: 600, Warmup: 200,
			Floor:   result("noop-extproc", Sample{Exchanges: 200, Ir: 50_000_000}, Sample{Exchanges: 3000, Ir: 675_008_146}),
			Sidecar: result("cpen-extproc", Sample{Exchanges: 200, Ir: 70_000_000}, Sample{Exchanges: 3000, Ir: 884_359_146}), Ratio: "1.30"},
		{Bodies: "resp1m", ReqBytes: 2048, RespBytes: 1 << 20, Warmup: 10,
			Floor:   result("noop-extproc", Sample{Exchanges: 20, Ir: 50_000_000}, Sample{Exchanges: 200, Ir: 422_967_635}),
			Sidecar: result("cpen-extproc", Sample{Exchanges: 19, Ir: 90_000_000}, Sample{Exchanges: 200, Ir: 2_000_000_000}), Ratio: "5.13"},
	}
	rows[1].Sidecar.LongDump = "/keep/cg.77.3"
	o := options{concurrency: 8, conns: 2, key: "k", json: true}
	var out bytes.Buffer
	if err := writeReport(&out, o, rows, 192*time.Second+400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := `
instructions per ext_proc exchange (callgrind Ir, long run minus short run), 8 in flight over 2 connections, key k
bodies     request response   floor instr/exch   sidecar instr/exch  ratio  exchanges counted (long - short)
default     2.0KiB     600B            223,217              290,843   1.30  2800 (3000 - 200)
resp1m      2.0KiB   1.0MiB          2,072,042           10,552,486   5.13  floor 180 (200 - 20), sidecar 181 (200 - 19)
resp1m: the sidecar's long-run dump, for callgrind_annotate: /keep/cg.77.3
took 3m12s
`
	text, jsonLines, _ := strings.Cut(out.String(), "took 3m12s\n")
	if got := text + "took 3m12s\n"; got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	lines := strings.Split(strings.TrimSpace(jsonLines), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines, want 2:\n%s", len(lines), jsonLines)
	}
	var rec struct {
		Bodies      string  `json:"bodies"`
		Concurrency int     `json:"concurrency"`
		Ratio       float64 `json:"ratio"`
		Sidecar     struct {
			Long          Sample `json:"long"`
			DeltaIr       uint64 `json:"delta_ir"`
			PerExchange   uint64 `json:"instr_per_exchange"`
			DeltaExchange int64  `json:"delta_exchanges"`
			LongDump      string `json:"long_dump"`
		} `json:"sidecar"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	s := rec.Sidecar
	if rec.Bodies != "resp1m" || rec.Concurrency != 8 || rec.Ratio != 5.13 || s.Long != (Sample{Exchanges: 200, Ir: 2_000_000_000}) ||
		s.DeltaIr != 1_910_000_000 || s.DeltaExchange != 181 || s.PerExchange != 10_552_486 || s.LongDump != "/keep/cg.77.3" {
		t.Errorf("JSON line %s", lines[1])
	}
}

func TestWriteReportWithMisses(t *testing.T) {
	floor := result("noop-extproc", Sample{Exchanges: 200, Ir: 50_000_000, Misses: Misses{L1i: 1_000_000, L1d: 600_000, LL: 1000}},
		Sample{Exchanges: 3000, Ir: 675_000_000, Misses: Misses{L1i: 1_000_000 + 2800*5606, L1d: 600_000 + 2800*3052, LL: 1000 + 2800*24}})
	sidecar := result("cpen-extproc", Sample{Exchanges: 200, Ir: 70_000_000, Misses: Misses{L1i: 1_500_000, L1d: 800_000, LL: 2000}},
		Sample{Exchanges: 3000, Ir: 884_000_000, Misses: Misses{L1i: 1_500_000 + 2800*7513, L1d: 800_000 + 2800*3911, LL: 2000 + 2800*91}})
	rows := []row{{Bodies: "default", ReqBytes: 2048, RespBytes: 600, Warmup: 200, Floor: floor, Sidecar: sidecar, Ratio: "1.30",
		Misses: ratiosOf(sidecar.Cost, floor.Cost)}}
	o := options{concurrency: 16, conns: 4, key: "k", json: true, cacheSim: true}
	var out bytes.Buffer
	if err := writeReport(&out, o, rows, time.Minute); err != nil {
		t.Fatal(err)
	}
	text, jsonLine, _ := strings.Cut(out.String(), "took 1m0s\n")
	want := `
instructions per ext_proc exchange (callgrind Ir, long run minus short run), 16 in flight over 4 connections, key k
bodies     request response   floor instr/exch   sidecar instr/exch  ratio  exchanges counted (long - short)
default     2.0KiB     600B            223,214              290,714   1.30  2800 (3000 - 200)

simulated cache misses per exchange (callgrind --cache-sim: L1 instruction and data 32768,8,64, last level 524288,8,64 as one core's L2; size,ways,line)
bodies    L1i floor   sidecar  ratio  L1d floor   sidecar  ratio   L2 floor   sidecar  ratio
default       5,606     7,513   1.34      3,052     3,911   1.28         24        91   3.79
`
	if text != want {
		t.Errorf("table:\n%s\nwant:\n%s", text, want)
	}
	var rec struct {
		MissRatios missRatios `json:"miss_ratios"`
		Sidecar    struct {
			MissesPerExchange Misses `json:"misses_per_exchange"`
			DeltaMisses       Misses `json:"delta_misses"`
		} `json:"sidecar"`
	}
	if err := json.Unmarshal([]byte(jsonLine), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.MissRatios != (missRatios{L1i: "1.34", L1d: "1.28", LL: "3.79"}) ||
		rec.Sidecar.MissesPerExchange != (Misses{L1i: 7513, L1d: 3911, LL: 91}) ||
		rec.Sidecar.DeltaMisses != (Misses{L1i: 2800 * 7513, L1d: 2800 * 3911, LL: 2800 * 91}) {
		t.Errorf("JSON line %s", jsonLine)
	}
}
