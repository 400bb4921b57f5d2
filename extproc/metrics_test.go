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

// Spend by alias, credit refusals and open reservations: a served answer
// adds its cost to its tier, a refusal for credit counts once, and the
// gauge returns to 0 once the exchange has ended.
func TestCreditMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(reg)
	s := NewServer(zap.NewNop(), m, WithClock((&clock{}).now), WithEnv(func(string) string { return "" }, os.ReadFile))
	t.Cleanup(s.Close)
	if err := s.Apply(cat); err != nil {
		t.Fatal(err)
	}
	answer := `{"id":"c","model":"upstream-mini","usage":{"prompt_tokens":42,"completion_tokens":18}}`
	cheapest := `{"model":"cpen/middle","routing":{"strategy":"cheapest"}}`
	run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(cheapest),
		respHeaders("200", "application/json"), respBody(answer))
	run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(`{"model":"cpen/middle","max_tokens":100000000}`))
	want := visibleCost(t, "route_mid_01", 42, 18).InexactFloat64()
	if got := testutil.ToFloat64(m.spend.WithLabelValues("cpen/middle")); got != want {
		t.Errorf("cpen_spend_usd_total{alias=cpen/middle} = %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(m.refusals); got != 1 {
		t.Errorf("cpen_credit_refusals_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.reservations); got != 0 {
		t.Errorf("cpen_credit_reservations_open = %v after the exchanges, want 0", got)
	}
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "account" || l.GetName() == "key_id" {
					t.Errorf("%s has a per-account label %s", mf.GetName(), l.GetName())
				}
			}
		}
	}
	for _, n := range []string{"cpen_spend_usd_total", "cpen_credit_refusals_total", "cpen_credit_reservations_open"} {
		if !names[n] {
			t.Errorf("series %s not exported", n)
		}
	}
}
