package extproc

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminHandler serves /healthz (the process is up), /readyz (a catalog is
// loaded, some tier can route and the process is not draining), /metrics,
// and /debug/pprof only when asked for: profiles and goroutine dumps are
// no business of whoever can scrape metrics.
func adminHandler(s *Server, gather prometheus.Gatherer, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.Draining() {
			http.Error(w, "not ready: draining", http.StatusServiceUnavailable)
			return
		}
		if !s.Ready() {
			http.Error(w, "not ready: no tier can route", http.StatusServiceUnavailable)
			return
		}
		if s.SharedStateDown() {
			// Ready, degraded: the failure mode says what is still served.
			_, _ = w.Write([]byte("ready, degraded: shared state (redis) unavailable\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{}))
	if !withPprof {
		return mux
	}
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
