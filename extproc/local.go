package extproc

import (
	"time"

	"github.com/cpen/router/config"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// passThrough answers every phase with CONTINUE and no change. It serves
// streams that start at the response (Envoy's own local replies).
type passThrough struct{}

func (passThrough) requestHeaders(x *exchange, _ *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return x.rp.requestHeaders(nil), nil
}

func (passThrough) requestBody(x *exchange, _ *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return x.rp.requestBody(nil), nil
}

func (passThrough) responseHeaders(x *exchange, _ *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return x.rp.responseHeaders(nil), nil
}

func (passThrough) responseBody(x *exchange, _ *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return x.rp.responseBody(nil), nil
}

func (passThrough) finish(*exchange) {}

// local serves endpoints the sidecar answers itself, at the request headers.
type local struct {
	passThrough
	answer func(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error)
}

func (l local) requestHeaders(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return l.answer(x, h)
}

func notFound(*exchange, *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return nil, errNotFound
}

// health answers GET /health: 200 when some tier can route, else 503.
func healthAnswer(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if x.rt == nil || !x.rt.canRoute(x.srv.opts.now()) {
		return immediate(503, []byte(`{"status":"unavailable","detail":"No tier can route: no catalog, or every tier is down"}`), "cpen_health", nil), nil
	}
	return immediate(200, []byte(`{"status":"ok"}`), "cpen_health", nil), nil
}

// canRoute reports whether any available tier has a live route.
func (rt *runtime) canRoute(now time.Time) bool {
	rt.health.Advance(now)
	for _, t := range rt.index.Tiers() {
		if t.Status == config.TierAvailable && rt.index.LiveCount(t, rt.health) > 0 {
			return true
		}
	}
	return false
}
