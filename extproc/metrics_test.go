package extproc

import (
	"errors"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/cpen/router/config"
)

// The served and rejected series after one routed request and two
// rejections, against golden Prometheus text.
func TestMetricsGolden(t *testing.T) {
	reg := prometheus.NewRegistry()
	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	s := NewServer(zap.NewNop(), NewMetrics(reg), WithClock(clk.now), WithEnv(func(string) string { return "" }, os.ReadFile))
	t.Cleanup(s.Close)
	if err := s.Apply(cat); err != nil {
		t.Fatal(err)
	}
	run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(seedRequest),
		respHeaders("200", "application/json"), respBody(providerAnswer))
	run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(`{"model":"cpen/middle","routing":{"max_total_per_1m":"0.01"}}`))
	run(t, s, reqHeaders("/v1/chat/completions", "cpen_live_wrong"))

	golden, err := os.Open("testdata/metrics.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	if err := testutil.GatherAndCompare(reg, golden, "cpen_requests_served_total", "cpen_requests_rejected_total"); err != nil {
		t.Error(err)
	}
}

// Each reload decision of the watcher lands in one outcome series.
func TestCatalogReloadMetric(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.catalogReload(true, nil)
	m.catalogReload(false, errors.New("bad"))
	m.catalogReload(false, errors.New("bad"))
	m.catalogReload(false, nil)
	for outcome, want := range map[string]float64{"applied": 1, "refused": 2, "held": 1} {
		if got := testutil.ToFloat64(m.reloads.WithLabelValues(outcome)); got != want {
			t.Errorf("%s: %v, want %v", outcome, got, want)
		}
	}
}
