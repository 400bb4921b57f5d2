package extproc

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/selector"
)

// GenAI series follow OpenTelemetry's generative-AI semantic conventions,
// as they appear in Prometheus: dots become underscores, and the model
// label is the tier alias the client asked for, never the provider's.
const (
	labelOperation = "gen_ai_operation_name"
	labelModel     = "gen_ai_request_model"
	labelRoute     = "cpen_route_id"
	labelTokenType = "gen_ai_token_type"
	labelErrorType = "error_type"
)

// Bucket boundaries: the conventions' advice for request durations, time
// to first token and token counts; the sidecar's own time per message is
// measured in microseconds.
var (
	durationBuckets   = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	firstTokenBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	tokenBuckets      = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	processingBuckets = prometheus.ExponentialBuckets(0.000005, 2, 15) // 5µs … 82ms
	redisBuckets      = prometheus.ExponentialBuckets(0.0001, 2, 14)   // 0.1ms … 0.8s
)

// genAI are the per-route histograms.
type genAI struct {
	duration   *prometheus.HistogramVec
	firstToken *prometheus.HistogramVec
	tokens     *prometheus.HistogramVec
}

func newGenAI() genAI {
	return genAI{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_server_request_duration",
			Help:    "Routed requests' duration in seconds, from the routing decision to the end of the answer; error_type is the provider's status, or incomplete when the answer never ended, and empty on success.",
			Buckets: durationBuckets,
		}, []string{labelOperation, labelModel, labelRoute, labelErrorType}),
		firstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_server_time_to_first_token",
			Help:    "Streamed answers' time in seconds from the routing decision to the first chunk of the answer.",
			Buckets: firstTokenBuckets,
		}, []string{labelOperation, labelModel, labelRoute}),
		tokens: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_client_token_usage",
			Help:    "Tokens per request as the provider reported them, by token type (input, output).",
			Buckets: tokenBuckets,
		}, []string{labelOperation, labelModel, labelRoute, labelTokenType}),
	}
}

func (g genAI) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.duration, g.firstToken, g.tokens}
}

// forget deletes the series of a route the catalog no longer has.
func (g genAI) forget(id string) {
	l := prometheus.Labels{labelRoute: id}
	g.duration.DeletePartialMatch(l)
	g.firstToken.DeletePartialMatch(l)
	g.tokens.DeletePartialMatch(l)
}

// lazyObserver resolves one labelled series at its first observation, so
// a route shows only the series it has used, and later observations do no
// label lookup.
type lazyObserver struct {
	p       atomic.Pointer[prometheus.Observer]
	resolve func() prometheus.Observer
}

func (l *lazyObserver) Observe(v float64) {
	o := l.p.Load()
	if o == nil {
		obs := l.resolve()
		l.p.CompareAndSwap(nil, &obs)
		o = l.p.Load()
	}
	(*o).Observe(v)
}

// routeSeries are one route's series; they implement catalog.RouteMetrics.
type routeSeries struct {
	served     [statusClasses]prometheus.Counter
	ok         [catalog.NumOperations]lazyObserver
	firstToken [catalog.NumOperations]lazyObserver
	input      [catalog.NumOperations]lazyObserver
	output     [catalog.NumOperations]lazyObserver
	g          *genAI
	id, alias  string
}

var _ catalog.RouteMetrics = (*routeSeries)(nil)

func (m *Metrics) routeSeries(r *selector.Route) *routeSeries {
	rs := &routeSeries{id: r.ID, alias: r.Alias()}
	if m == nil {
		return rs
	}
	rs.g = &m.genAI
	for i := range rs.served {
		rs.served[i] = m.servedTotal.WithLabelValues(r.ID, statusClass(i))
	}
	for op := range catalog.NumOperations {
		name := op.String()
		rs.ok[op].resolve = func() prometheus.Observer {
			return m.genAI.duration.WithLabelValues(name, rs.alias, rs.id, "")
		}
		rs.firstToken[op].resolve = func() prometheus.Observer {
			return m.genAI.firstToken.WithLabelValues(name, rs.alias, rs.id)
		}
		rs.input[op].resolve = func() prometheus.Observer {
			return m.genAI.tokens.WithLabelValues(name, rs.alias, rs.id, "input")
		}
		rs.output[op].resolve = func() prometheus.Observer {
			return m.genAI.tokens.WithLabelValues(name, rs.alias, rs.id, "output")
		}
	}
	return rs
}

// Served counts one request the route served, by the provider's status
// (0: no answer).
func (rs *routeSeries) Served(status int) {
	i := status / 100
	if i < 0 || i >= len(rs.served) {
		i = 0
	}
	if c := rs.served[i]; c != nil {
		c.Inc()
	}
}

// Finished records a routed request's duration.
func (rs *routeSeries) Finished(op catalog.Operation, d time.Duration, errorType string) {
	if rs.g == nil {
		return
	}
	if errorType == "" {
		rs.ok[op].Observe(d.Seconds())
		return
	}
	// Failures are the cold path: a label lookup each.
	rs.g.duration.WithLabelValues(op.String(), rs.alias, rs.id, errorType).Observe(d.Seconds())
}

// FirstToken records a stream's time to its first chunk.
func (rs *routeSeries) FirstToken(op catalog.Operation, d time.Duration) {
	if rs.g != nil {
		rs.firstToken[op].Observe(d.Seconds())
	}
}

// Tokens records the usage a provider reported.
func (rs *routeSeries) Tokens(op catalog.Operation, input, output int64) {
	if rs.g == nil {
		return
	}
	rs.input[op].Observe(float64(input))
	rs.output[op].Observe(float64(output))
}
