package ab

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cpen/router/test/bench/load"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func caseNames(cs []Case) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.Join(strings.Fields(c.String()), " "))
	}
	return out
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		cases     string
		reps      int
		window    time.Duration
		slices    int
		httpConcs int
	}{
		{"long", nil, "c=1 default|c=16 default|c=64 default|c=1 req200k|c=16 req200k|c=64 req200k|c=1 resp1m|c=16 resp1m|c=64 resp1m", 3, 10 * time.Second, 5, 2},
		{"short", []string{"--short"}, "c=1 default|c=16 default|c=64 default|c=16 resp1m", 2, 4 * time.Second, 4, 2},
		{"short, own matrix", []string{"--short", "--concurrency", "4", "--extra", "", "--reps", "1", "--duration", "1s", "--slices", "1", "--http-concurrency", ""},
			"c=4 default", 1, time.Second, 1, 0},
		{"long, extra", []string{"--concurrency", "2", "--bodies", "resp1m", "--extra", "8:req200k"}, "c=2 resp1m|c=8 req200k", 3, 10 * time.Second, 5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(caseNames(o.cases), "|"); got != tt.cases {
				t.Errorf("cases %s, want %s", got, tt.cases)
			}
			if o.reps != tt.reps || o.duration != tt.window || o.slices != tt.slices || len(o.httpConc) != tt.httpConcs {
				t.Errorf("reps %d, window %v, slices %d, http concurrencies %v", o.reps, o.duration, o.slices, o.httpConc)
			}
		})
	}
	for _, bad := range [][]string{{"--bodies", "huge"}, {"--concurrency", "0"}, {"--extra", "x:default"}, {"--reps", "-1"}, {"stray"},
		{"--slices", "-1"}, {"--duration", "1s", "--slices", "21"}} {
		if _, err := parseOptions(bad, io.Discard); err == nil {
			t.Errorf("parseOptions(%q): no error", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	if got := median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Errorf("median even = %v", got) // (2+3)/2 in integer durations
	}
	if got := median[float64](nil); got != 0 {
		t.Errorf("median empty = %v", got)
	}
}

// TestRunnerEndToEnd builds both servers and runs a tiny matrix, HTTP
// overhead included. It checks the shape of the report, not the numbers.
func TestRunnerEndToEnd(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	ours := filepath.Join(bin, "cpen-extproc")
	builds := map[string]string{"noop-extproc": "./test/bench/cmd/noop-extproc"}
	// make test builds bin/cpen-extproc and names it in CPEN_BIN, as for the e2e suite.
	if env := os.Getenv("CPEN_BIN"); env != "" {
		ours = env
	} else {
		builds["cpen-extproc"] = "./extproc/cmd/cpen-extproc"
	}
	var wg sync.WaitGroup
	for name, pkg := range builds {
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("build %s: %v\n%s", name, err, out)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	jsonFile := filepath.Join(t.TempDir(), "legs.jsonl")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = Main(ctx, []string{
		"--bin", ours, "--noop-bin", filepath.Join(bin, "noop-extproc"),
		"--catalog", filepath.Join(root, "test/bench/testdata/catalog.yaml"),
		"--concurrency", "2", "--bodies", "default", "--extra", "2:resp1m", "--reps", "2",
		"--warmup", "50ms", "--duration", "200ms", "--slices", "2", "--http-concurrency", "2", "--http-duration", "200ms",
		"--json", jsonFile, "-v",
	}, &stdout, &stderr)
	out := stdout.String()
	if err != nil {
		t.Fatalf("Main: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	// The stand-in counts what real Envoy would count against the sidecar
	// (refused header mutations, spurious messages, failed streams).
	if strings.Contains(out, "counted trouble") {
		t.Errorf("the stand-in counted trouble:\n%s", out)
	}
	for _, want := range []string{"c=2   default", "c=2   resp1m", "ratio", "summary", "RSS at the end of the matrix",
		"body size", "stand-in + sidecar", "stand-in, no ext_proc", "added by the sidecar"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// The legs of a pair take turns slice by slice, ABBA, the floor first
	// in the second pair.
	var turns []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "ab: c=2   default pair "); ok {
			turns = append(turns, rest)
		}
	}
	wantTurns := []string{
		"1/2 ours slice 1/2", "1/2 floor slice 1/2", "1/2 floor slice 2/2", "1/2 ours slice 2/2",
		"2/2 floor slice 1/2", "2/2 ours slice 1/2", "2/2 ours slice 2/2", "2/2 floor slice 2/2",
	}
	if !slices.Equal(turns, wantTurns) {
		t.Errorf("slices ran in the order %q, want %q", turns, wantTurns)
	}
	legs, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	// 2 cases x 2 pairs x 2 sides, the second pair of each case with the
	// floor first, then 3 HTTP paths x 2.
	var order []string
	dec := json.NewDecoder(bytes.NewReader(legs))
	for dec.More() {
		var rec load.Record
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("JSON line %d: %v\n%s", len(order)+1, err, legs)
		}
		order = append(order, rec.Label)
	}
	want := []string{
		"c=2 default pair1 ours", "c=2 default pair1 floor", "c=2 default pair2 floor", "c=2 default pair2 ours",
		"c=2 resp1m pair1 ours", "c=2 resp1m pair1 floor", "c=2 resp1m pair2 floor", "c=2 resp1m pair2 ours",
	}
	if len(order) != len(want)+6 || !slices.Equal(order[:len(want)], want) {
		t.Errorf("legs ran in the order %q, want %q and 6 HTTP legs", order, want)
	}
}

func TestBudget(t *testing.T) {
	def, err := load.FindBodySet(load.DefaultBodySet)
	if err != nil {
		t.Fatal(err)
	}
	large, err := load.FindBodySet("resp1m")
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	tests := []struct {
		c    Case
		s    caseStats
		rss  int64
		want string
	}{
		{Case{1, def}, caseStats{cpuRatio: 2, p50Ratio: 1.10}, 0, "p50 <= 1.10x: ok"},
		{Case{1, def}, caseStats{p50Ratio: 1.11}, 0, "p50 <= 1.10x: OVER"},
		{Case{16, def}, caseStats{cpuRatio: 1.15, p50Ratio: 2}, 0, "cpu <= 1.15x: ok"},
		{Case{16, def}, caseStats{cpuRatio: 1.16}, 0, "cpu <= 1.15x: OVER"},
		{Case{64, def}, caseStats{cpuRatio: 1.1}, 40*mib - 1, "cpu <= 1.15x: ok; rss < 40.0MiB: ok"},
		{Case{64, def}, caseStats{cpuRatio: 1.1}, 40 * mib, "cpu <= 1.15x: ok; rss < 40.0MiB: OVER"},
		{Case{8, def}, caseStats{cpuRatio: 3}, 0, ""},
		{Case{16, large}, caseStats{cpuRatio: 3}, 80*mib - 1, "rss < 80.0MiB: ok"},
		{Case{16, large}, caseStats{cpuRatio: 3}, 80 * mib, "rss < 80.0MiB: OVER"},
	}
	for _, tt := range tests {
		if got := budget(tt.c, tt.s, tt.rss); got != tt.want {
			t.Errorf("budget(%s, %+v, %d) = %q, want %q", tt.c, tt.s, tt.rss, got, tt.want)
		}
	}
}
