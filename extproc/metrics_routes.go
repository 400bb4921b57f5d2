package extproc

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/catalog"
)

// routeUp exports cpen_route_up at each scrape from the catalog version in
// force: 1 for a live route that is not ejected, 0 otherwise. Reading at
// scrape time keeps the request path free of it, and a reload needs no
// series bookkeeping: a dropped route is simply no longer listed.
type routeUp struct {
	desc     *prometheus.Desc
	versions *atomic.Pointer[catalog.Version]
	now      func() time.Time
}

func newRouteUp(versions *atomic.Pointer[catalog.Version], now func() time.Time) *routeUp {
	return &routeUp{
		desc: prometheus.NewDesc("cpen_route_up",
			"1 while a route may be chosen (status live in the catalog and not ejected after failures), else 0.",
			[]string{"route_id", "alias"}, nil),
		versions: versions,
		now:      now,
	}
}

func (r *routeUp) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *routeUp) Collect(ch chan<- prometheus.Metric) {
	v := r.versions.Load()
	if v == nil {
		return
	}
	v.Health.Advance(r.now())
	for _, route := range v.Index.Routes() {
		up := 0.0
		if route.Status == config.RouteLive && !v.Health.Route(route.Index).Down {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, up, route.ID, route.Alias())
	}
}
