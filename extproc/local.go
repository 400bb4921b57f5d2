package extproc

import (
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/config"
)

// passThrough answers every phase with CONTINUE and no change. It serves
// streams that start at the response (Envoy's own local replies).
type passThrough struct{ x *exchange }

func (p passThrough) requestHeaders(*extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.requestHeaders(nil), nil
}

func (p passThrough) requestBody(*extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.requestBody(nil), nil
}

func (p passThrough) responseHeaders(*extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.responseHeaders(nil), nil
}

func (p passThrough) responseBody(*extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.responseBody(nil), nil
}

func (passThrough) finish() {}

// localAnswer answers a request at its headers, from the sidecar itself.
type localAnswer func(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error)

// local serves an endpoint the sidecar answers itself, at the request
// headers; any later phase passes unchanged.
type local struct {
	x      *exchange
	answer localAnswer
}

// localFactory makes the processors of an endpoint answered locally.
func localFactory(answer localAnswer) factory {
	return func(x *exchange) processor { return &local{x: x, answer: answer} }
}

func (l *local) requestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return l.answer(l.x, h)
}

func (l *local) requestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return passThrough{l.x}.requestBody(b)
}

func (l *local) responseHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return passThrough{l.x}.responseHeaders(h)
}

func (l *local) responseBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return passThrough{l.x}.responseBody(b)
}

func (*local) finish() {}

func notFound(*exchange, *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return nil, errNotFound
}

// health answers GET /health: 200 when some tier can route, else 503.
func healthAnswer(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if x.rt == nil || !x.rt.canRoute(x.srv.opts.now()) {
		// The body is a state report, not an error object: monitors read
		// "status".
		return immediate(refusals[causeNoTierCanRoute].status,
			[]byte(`{"status":"unavailable","detail":"No tier can route: no catalog, or every tier is down"}`), "cpen_health", nil), nil
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
