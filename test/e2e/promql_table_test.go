package e2e

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPromQLMetricNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{name: "bare metric", expr: "cpen_redis_up", want: []string{"cpen_redis_up"}},
		{name: "histogram quantile with the label list before the body",
			expr: "histogram_quantile(0.99, sum by (le, phase) (rate(cpen_extproc_processing_seconds_bucket[5m])))",
			want: []string{"cpen_extproc_processing_seconds_bucket"}},
		{name: "label list after the body, keywords in capitals",
			expr: "SUM(rate(cpen_requests_served_total[5m])) BY (route_id, status_class)",
			want: []string{"cpen_requests_served_total"}},
		{name: "without", expr: "sum without (instance, pod) (cpen_credit_reservations_open)",
			want: []string{"cpen_credit_reservations_open"}},
		{name: "matchers with metric-like values, braces and quotes in strings",
			expr: `sum(rate(cpen_requests_rejected_total{code=~"cpen_fake_total|x}", route_id!='a\'b{'}[$__rate_interval]))`,
			want: []string{"cpen_requests_rejected_total"}},
		{name: "Grafana variables in matchers, ranges and offsets",
			expr: `increase(cpen_spend_usd_total{alias=~"$alias"}[$__range] offset $__interval)`,
			want: []string{"cpen_spend_usd_total"}},
		{name: "braced variable", expr: `rate(gen_ai_client_token_usage_sum{cpen_route_id=~"${route_id:regex}"}[${__rate_interval}])`,
			want: []string{"gen_ai_client_token_usage_sum"}},
		{name: "division, one-to-many match and a repeated name",
			expr: `sum by (route_id) (rate(cpen_requests_served_total{status_class="5xx"}[5m])) / on (route_id) group_left (alias) ` +
				`sum by (route_id) (rate(cpen_requests_served_total[5m])) * on (route_id) group_left max by (route_id, alias) (cpen_route_up)`,
			want: []string{"cpen_requests_served_total", "cpen_route_up"}},
		{name: "word operators, bool, numbers and durations",
			expr: "cpen_redis_up == bool 0 and cpen_route_up > 1e-3 or vector(0.5) unless cpen_catalog_info offset 1h30m > Inf",
			want: []string{"cpen_redis_up", "cpen_route_up", "cpen_catalog_info"}},
		{name: "subquery and @ modifier", expr: "max_over_time(rate(cpen_redis_errors_total[5m])[1h:1m] @ end())",
			want: []string{"cpen_redis_errors_total"}},
		{name: "function with a space before its parenthesis and string arguments",
			expr: `label_replace (cpen_route_up, "tier", "$1", "alias", "cpen/(.*)")`,
			want: []string{"cpen_route_up"}},
		{name: "aggregation parameters", expr: `topk(3, cpen_spend_usd_total) + count_values("v", cpen_catalog_info)`,
			want: []string{"cpen_spend_usd_total", "cpen_catalog_info"}},
		{name: "recording rule name", expr: "job:cpen_requests_served:rate5m", want: []string{"job:cpen_requests_served:rate5m"}},
		{name: "comment", expr: "cpen_redis_up # cpen_not_a_metric\n", want: []string{"cpen_redis_up"}},
		{name: "no metric", expr: "vector(1) + time()", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := promqlMetricNames(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("promqlMetricNames(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestPromQLMetricNamesRefused(t *testing.T) {
	for _, expr := range []string{
		`cpen_route_up{alias="cpen/low}`,
		`cpen_route_up{alias="cpen/low"`,
		"rate(cpen_requests_served_total[5m)",
		`{__name__="cpen_route_up"}`,
		"sum by (le cpen_route_up",
	} {
		if got, err := promqlMetricNames(expr); !errors.Is(err, errPromQL) {
			t.Errorf("promqlMetricNames(%q) = %q, %v; want an errPromQL", expr, got, err)
		}
	}
}

func TestGrafanaVariableMetricNames(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{name: "label values of a selector", query: `label_values(cpen_route_up{alias=~"$alias"}, route_id)`, want: []string{"cpen_route_up"}},
		{name: "label values of a metric", query: "label_values(cpen_route_up, alias)", want: []string{"cpen_route_up"}},
		{name: "label values of any metric", query: "label_values(alias)", want: nil},
		{name: "query result", query: "query_result(topk(5, sum by (alias) (rate(cpen_spend_usd_total[1h]))))", want: []string{"cpen_spend_usd_total"}},
		{name: "metric names", query: "metrics(cpen_.*)", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grafanaVariableMetricNames(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("grafanaVariableMetricNames(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
	if _, err := grafanaVariableMetricNames("up"); !errors.Is(err, errPromQL) {
		t.Errorf("a bare selector as a variable query: %v, want an errPromQL", err)
	}
}

// TestSeriesFamily maps the series names a query uses to the families of
// a small exposition in the text format the sidecar serves.
func TestSeriesFamily(t *testing.T) {
	const exposition = `# TYPE cpen_requests_served_total counter
cpen_requests_served_total{route_id="r",status_class="2xx"} 1
# TYPE cpen_redis_up gauge
cpen_redis_up 1
# TYPE cpen_extproc_processing_seconds histogram
cpen_extproc_processing_seconds_bucket{phase="total",le="0.001"} 1
cpen_extproc_processing_seconds_bucket{phase="total",le="+Inf"} 1
cpen_extproc_processing_seconds_sum{phase="total"} 0.0002
cpen_extproc_processing_seconds_count{phase="total"} 1
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.1
rpc_seconds_sum 0.1
rpc_seconds_count 1
`
	families, err := parseExposition(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		family string // empty: not a series of the exposition
	}{
		{"cpen_requests_served_total", "cpen_requests_served_total"},
		{"cpen_redis_up", "cpen_redis_up"},
		{"cpen_extproc_processing_seconds_bucket", "cpen_extproc_processing_seconds"},
		{"cpen_extproc_processing_seconds_sum", "cpen_extproc_processing_seconds"},
		{"cpen_extproc_processing_seconds_count", "cpen_extproc_processing_seconds"},
		{"cpen_extproc_processing_seconds", ""}, // a classic histogram has no series of its own
		{"rpc_seconds", "rpc_seconds"},
		{"rpc_seconds_count", "rpc_seconds"},
		{"rpc_seconds_bucket", ""},
		{"cpen_redis_up_count", ""},
		{"cpen_requests_served", ""},
		{"cpen_missing_total", ""},
	}
	for _, tt := range tests {
		got, ok := seriesFamily(tt.name, families)
		if got != tt.family || ok != (tt.family != "") {
			t.Errorf("seriesFamily(%q) = %q, %v; want %q", tt.name, got, ok, tt.family)
		}
	}
}
