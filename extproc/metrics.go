package extproc

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpen/router/extproc/internal/catalog"
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
}

var (
	_ stream.Metrics        = (*Metrics)(nil)
	_ chat.Metrics          = (*Metrics)(nil)
	_ catalog.ServedCounter = (*routeCounters)(nil)
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
	reg.MustRegister(m.servedTotal, m.rejectedTotal, m.redisErrors, m.reloads, m.spend, m.refusals, m.reservations)
	return m
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

// routeCounters are one route's served counters by status class, resolved
// once per catalog version so the hot path does no label lookup.
type routeCounters [statusClasses]prometheus.Counter

func (m *Metrics) routeCounters(route string) *routeCounters {
	var rc routeCounters
	if m == nil {
		return &rc
	}
	for i := range rc {
		rc[i] = m.servedTotal.WithLabelValues(route, statusClass(i))
	}
	return &rc
}

// forgetRoutes deletes the served series of routes a catalog no longer
// has, so a route's series live exactly as long as the route. A request
// still finishing on such a route counts into a series nobody exports.
func (m *Metrics) forgetRoutes(ids []string) {
	if m == nil {
		return
	}
	for _, id := range ids {
		m.servedTotal.DeletePartialMatch(prometheus.Labels{"route_id": id})
	}
}

// Served counts one request the route served, by the provider's status
// (0: no answer).
func (rc *routeCounters) Served(status int) {
	i := status / 100
	if i < 0 || i >= len(rc) {
		i = 0
	}
	if c := rc[i]; c != nil {
		c.Inc()
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
