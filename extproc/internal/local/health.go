package local

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/stream"
)

// Health makes the processors of GET /health.
func Health(cfg *Config) stream.Factory { return factory(cfg, health) }

// health answers GET /health: 200 when some tier can route, else 503.
func health(l *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if l.v == nil || !l.v.CanRoute(l.cfg.Now()) {
		// The body is a state report, not an error object: monitors read
		// "status".
		return stream.Immediate(stream.CauseNoTierCanRoute.Status(),
			[]byte(`{"status":"unavailable","detail":"No tier can route: no catalog, or every tier is down"}`), "cpen_health", nil), nil
	}
	return stream.Immediate(200, []byte(`{"status":"ok"}`), "cpen_health", nil), nil
}
