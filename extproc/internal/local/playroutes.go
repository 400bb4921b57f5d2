package local

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector"
)

// PlaygroundRoutes makes the processors of GET /playground/routes.
func PlaygroundRoutes(cfg *Config) stream.Factory { return factory(cfg, playgroundRoutes) }

// playRoutesBody is the answer of GET /playground/routes: the route table
// the playground page draws and holds against the caps a visitor enters.
type playRoutesBody struct {
	Object string     `json:"object"`
	Tiers  []playTier `json:"tiers"`
}

type playTier struct {
	Alias  string      `json:"alias"`
	Level  string      `json:"level"`
	Status string      `json:"status"`
	Band   band        `json:"band"`
	Routes []playRoute `json:"routes"`
}

// playRoute is one route as a client may see it: its id, family and
// visible prices. The provider and the upstream model are never in it.
type playRoute struct {
	RouteID       string `json:"route_id"`
	ModelFamily   string `json:"model_family"`
	VisibleInput  string `json:"visible_input_per_1m"`
	VisibleOutput string `json:"visible_output_per_1m"`
	VisibleTotal  string `json:"visible_total_per_1m"`
	Currency      string `json:"currency"`
	Live          bool   `json:"live"`
}

// playgroundRoutes answers GET /playground/routes: per tier its alias,
// level, status and band, and the routes a request for it could get, in
// price order: those of an available tier whose catalog status is live
// (paused offers are being withdrawn and are left out), each marked live
// unless it is ejected for failures. A tier that is planned or in outage
// lists none, and an available tier with no live route reports outage, as
// GET /v1/status/routes does.
func playgroundRoutes(l *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if l.v == nil {
		return nil, stream.ErrNotReady
	}
	v := l.v
	v.Health.Advance(l.cfg.Now())
	out := playRoutesBody{Object: "list", Tiers: []playTier{}}
	for _, t := range v.Index.Tiers() {
		status, _ := standing(v, t)
		pt := playTier{Alias: t.Alias, Level: t.Level, Status: status, Routes: []playRoute{}, Band: bandOf(t)}
		if t.Status == config.TierAvailable {
			pt.Routes = tierRoutes(t, v.Health)
		}
		out.Tiers = append(out.Tiers, pt)
	}
	return jsonAnswer(out, "cpen_playground_routes")
}

// tierRoutes lists the tier's routes in catalog status live, in the tier's
// price order, with their health.
func tierRoutes(t *selector.Tier, h selector.Health) []playRoute {
	out := []playRoute{}
	for _, r := range t.Routes() {
		if r.Status != config.RouteLive {
			continue
		}
		out = append(out, playRoute{RouteID: r.ID, ModelFamily: r.ModelFamily,
			VisibleInput: selector.FormatPrice(r.VisibleInput), VisibleOutput: selector.FormatPrice(r.VisibleOutput),
			VisibleTotal: selector.FormatPrice(r.VisibleTotal), Currency: "USD", Live: !h.Route(r.Index).Down})
	}
	return out
}
