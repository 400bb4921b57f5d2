package extproc

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sidecar's Prometheus series. Labels stay bounded: route
// ids come from the catalog, codes from a fixed table.
type Metrics struct {
	servedTotal   *prometheus.CounterVec
	rejectedTotal *prometheus.CounterVec
	redisErrors   *prometheus.CounterVec
}

// NewMetrics registers the series on reg (never the global registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
	}
	reg.MustRegister(m.servedTotal, m.rejectedTotal, m.redisErrors)
	return m
}

func (m *Metrics) served(route string, status int) {
	if m == nil {
		return
	}
	class := "none"
	if status > 0 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.servedTotal.WithLabelValues(route, class).Inc()
}

func (m *Metrics) rejected(code string) {
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
