package extproc

import (
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/envoytest"
)

// metricsServer is a server on the test catalog counting into reg.
func metricsServer(t *testing.T, reg *prometheus.Registry) *Server {
	t.Helper()
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
	return s
}

// The served and rejected series after one routed request and two
// rejections, against golden Prometheus text.
func TestMetricsGolden(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := metricsServer(t, reg)
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

// The full set of series and their label names after a routed chat, a
// stream, a provider failure and a refusal: labels stay
// bounded by the catalog (no key, account or client), and a rename shows
// here.
func TestMetricLabelNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := metricsServer(t, reg)
	// Over Process, as gRPC calls it, so that processing time is measured.
	process := func(msgs ...*extprocv3.ProcessingRequest) {
		t.Helper()
		if err := s.Process(&envoytest.Stream{In: msgs}); err != nil {
			t.Fatal(err)
		}
	}
	process(reqHeaders("/v1/chat/completions", seedKey), reqBody(seedRequest),
		respHeaders("200", "application/json"), respBody(providerAnswer))
	process(reqHeaders("/v1/chat/completions", seedKey), reqBody(strings.Replace(seedRequest, `"temperature":0.2`, `"stream":true`, 1)),
		respHeaders("200", "text/event-stream"),
		envoytest.RespChunk("data: {\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n", false),
		envoytest.RespChunk("data: [DONE]\n\n", true))
	process(reqHeaders("/v1/chat/completions", seedKey), reqBody(seedRequest),
		respHeaders("500", "application/json"), respBody(`{"error":{"message":"boom"}}`))
	process(reqHeaders("/v1/chat/completions", "cpen_live_wrong"))

	want := map[string][]string{
		"cpen_requests_served_total":        {"route_id", "status_class"},
		"cpen_requests_rejected_total":      {"code"},
		"cpen_spend_usd_total":              {"alias"},
		"cpen_credit_refusals_total":        nil,
		"cpen_credit_reservations_open":     nil,
		"cpen_extproc_processing_seconds":   {"phase"},
		"cpen_route_up":                     {"alias", "route_id"},
		"cpen_catalog_info":                 {"loaded_at", "version"},
		"gen_ai_client_token_usage":         {"cpen_route_id", "gen_ai_operation_name", "gen_ai_request_model", "gen_ai_token_type"},
		"gen_ai_server_request_duration":    {"cpen_route_id", "error_type", "gen_ai_operation_name", "gen_ai_request_model"},
		"gen_ai_server_time_to_first_token": {"cpen_route_id", "gen_ai_operation_name", "gen_ai_request_model"},
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, f := range families {
		names := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				names[l.GetName()] = true
			}
		}
		got[f.GetName()] = slices.Sorted(maps.Keys(names))
	}
	for name, labels := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s not exported", name)
			continue
		}
		if !slices.Equal(g, labels) && !(len(g) == 0 && len(labels) == 0) {
			t.Errorf("%s labels %v, want %v", name, g, labels)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s exported but not expected here", name)
		}
	}
	// Every phase and the request total were measured: 4 requests, 10
	// messages with a body or headers, 2 with a response body.
	for phase, n := range map[string]uint64{"request_headers": 4, "request_body": 3, "response_headers": 3, "response_body": 4, "total": 4} {
		h := &dto.Metric{}
		if err := s.metrics.processing.WithLabelValues(phase).(prometheus.Histogram).Write(h); err != nil {
			t.Fatal(err)
		}
		if c := h.GetHistogram().GetSampleCount(); c != n {
			t.Errorf("phase %s measured %d times, want %d", phase, c, n)
		}
	}
}
