package extproc

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/chat"
	"github.com/cpen/router/extproc/internal/stream"
)

// Metrics are the sidecar's Prometheus series. Labels stay bounded: route
// ids come from the catalog, codes from a fixed table.
type Metrics struct {
	servedTotal   *prometheus.CounterVec
	rejectedTotal *prometheus.CounterVec
	redisErrors   *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	spend         *prometheus.CounterVec
	spendByAlias  sync.Map // alias → its spend counter, resolved once
	refusals      prometheus.Counter
	reservations  prometheus.Gauge
	redisUpGauge  prometheus.Gauge
	redisOnce     sync.Once
	reg           prometheus.Registerer
	genAI         genAI
	processing    *prometheus.HistogramVec
	// byPhase are processing's series, resolved once.
	byPhase     [stream.NumPhases]prometheus.Observer
	catalogInfo *prometheus.GaugeVec
	redisTime   *prometheus.HistogramVec
}

var (
	_ stream.Metrics = (*Metrics)(nil)
	_ chat.Metrics   = (*Metrics)(nil)
)

// NewMetrics registers the series on reg (never the global registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		servedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpen_requests_served_total",
			Help: "Requests routed to a provider, by route and upstream status class.",
		}, []string{"route_id", "status_class"}),
		rejectedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpen_requests_rejected_total",
			Help: "Requests the sidecar answered itself with an error, by error code.",
		}, []string{"code"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpen_redis_errors_total",
			Help: "Failed calls to the shared-state Redis, by operation.",
		}, []string{"op"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpen_catalog_reloads_total",
			Help: "Catalog reload decisions after start: applied, refused (the previous catalog is kept) or held (a file changed in place, waiting to settle).",
		}, []string{"outcome"}),
		spend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpen_spend_usd_total",
			Help: "What routed requests cost at visible prices, in USD, by tier alias (the ledger keeps the exact figures).",
		}, []string{"alias"}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cpen_credit_refusals_total",
			Help: "Requests refused because the account's remaining credit did not cover their reservation.",
		}),
		reservations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cpen_credit_reservations_open",
			Help: "Credit reservations this replica holds for requests in flight.",
		}),
	}
	m.redisUpGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cpen_redis_up",
		Help: "1 while the shared-state Redis answers, 0 while it fails (the failure mode then decides what is served); absent without Redis.",
	})
	m.genAI = newGenAI()
	m.processing = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cpen_extproc_processing_seconds",
		Help:    "The sidecar's own time per ext_proc message, from its receipt to the answer's send, by phase; phase total is a request's sum over its messages.",
		Buckets: processingBuckets,
	}, []string{"phase"})
	for p := range stream.NumPhases {
		m.byPhase[p] = m.processing.WithLabelValues(p.String())
	}
	m.catalogInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cpen_catalog_info",
		Help: "The catalog in force: version is the first 12 hex digits of the file's SHA-256, loaded_at when this replica applied it (RFC 3339, UTC). Always 1.",
	}, []string{"version", "loaded_at"})
	m.redisTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cpen_redis_duration_seconds",
		Help:    "Shared-state Redis calls' duration in seconds, failures included, by Redis command.",
		Buckets: redisBuckets,
	}, []string{"op"})
	reg.MustRegister(m.servedTotal, m.rejectedTotal, m.redisErrors, m.reloads, m.spend, m.refusals, m.reservations,
		m.processing, m.catalogInfo, m.redisTime)
	reg.MustRegister(m.genAI.collectors()...)
	return m
}

// Processed records the sidecar's own time on one message, or on a whole
// request.
func (m *Metrics) Processed(p stream.Phase, d time.Duration) {
	if m != nil {
		m.byPhase[p].Observe(d.Seconds())
	}
}

// catalogApplied makes the catalog-info series name c, alone.
func (m *Metrics) catalogApplied(c *config.Catalog, at time.Time) {
	if m == nil {
		return
	}
	m.catalogInfo.Reset()
	m.catalogInfo.WithLabelValues(c.Digest, at.UTC().Format(time.RFC3339)).Set(1)
}

// statusClasses is how many status classes label upstream statuses:
// status/100, with 0 for no answer.
const statusClasses = 6

func statusClass(i int) string {
	if i == 0 {
		return "none"
	}
	return string(rune('0'+i)) + "xx"
}

// forgetRoutes deletes the series of routes a catalog no longer has, so a
// route's series live exactly as long as the route. A request still
// finishing on such a route counts into a series nobody exports.
func (m *Metrics) forgetRoutes(ids []string) {
	if m == nil {
		return
	}
	for _, id := range ids {
		m.servedTotal.DeletePartialMatch(prometheus.Labels{"route_id": id})
		m.genAI.forget(id)
	}
}

// Rejected counts one request refused with an error reply, by its error
// code; the transport calls it.
func (m *Metrics) Rejected(code string) {
	if m == nil {
		return
	}
	m.rejectedTotal.WithLabelValues(code).Inc()
}

func (m *Metrics) redisError(op string) {
	if m == nil {
		return
	}
	m.redisErrors.WithLabelValues(op).Inc()
}

// catalogReload counts one reload decision of the catalog watcher.
func (m *Metrics) catalogReload(applied bool, err error) {
	if m == nil {
		return
	}
	outcome := "held"
	switch {
	case applied:
		outcome = "applied"
	case err != nil:
		outcome = "refused"
	}
	m.reloads.WithLabelValues(outcome).Inc()
}

// Spent adds a request's cost to its tier's spend. A Prometheus counter is
// a float: the series is for dashboards, the ledger holds the money.
func (m *Metrics) Spent(alias string, usd float64) {
	if m == nil || usd == 0 {
		return
	}
	c, ok := m.spendByAlias.Load(alias)
	if !ok {
		// Aliases come from the catalog: the map stays small.
		c, _ = m.spendByAlias.LoadOrStore(alias, m.spend.WithLabelValues(alias))
	}
	c.(prometheus.Counter).Add(usd)
}

// CreditRefused counts a refusal for credit.
func (m *Metrics) CreditRefused() {
	if m != nil {
		m.refusals.Inc()
	}
}

// Reservations moves the open-reservations gauge.
func (m *Metrics) Reservations(delta int) {
	if m != nil {
		m.reservations.Add(float64(delta))
	}
}

// redisUp records whether Redis answers; the series exists only once a
// Redis is configured.
func (m *Metrics) redisUp(up bool) {
	if m == nil {
		return
	}
	m.redisOnce.Do(func() { m.reg.MustRegister(m.redisUpGauge) })
	v := 0.0
	if up {
		v = 1
	}
	m.redisUpGauge.Set(v)
}
