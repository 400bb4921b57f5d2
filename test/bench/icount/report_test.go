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
	c := Cost{Instructions: long.Ir - short.Ir, Exchanges: long.Exchanges - short.Exchanges}
	return serverResult{Server: server, Short: short, Long: long, Cost: c, PerExchange: c.PerExchange()}
}

func TestWriteReport(t *testing.T) {
	rows := []row{
		{Bodies: "default", ReqBytes: 2048, RespBytes: 600, Warmup: 200,
			Floor:   result("noop-extproc", Sample{200, 50_000_000}, Sample{3000, 675_008_146}),
			Sidecar: result("cpen-extproc", Sample{200, 70_000_000}, Sample{3000, 884_359_146}), Ratio: "1.30"},
		{Bodies: "resp1m", ReqBytes: 2048, RespBytes: 1 << 20, Warmup: 10,
			Floor:   result("noop-extproc", Sample{20, 50_000_000}, Sample{200, 422_967_635}),
			Sidecar: result("cpen-extproc", Sample{19, 90_000_000}, Sample{200, 2_000_000_000}), Ratio: "5.13"},
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
	if rec.Bodies != "resp1m" || rec.Concurrency != 8 || rec.Ratio != 5.13 || s.Long != (Sample{200, 2_000_000_000}) ||
		s.DeltaIr != 1_910_000_000 || s.DeltaExchange != 181 || s.PerExchange != 10_552_486 || s.LongDump != "/keep/cg.77.3" {
		t.Errorf("JSON line %s", lines[1])
	}
}
