package local

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector"
)

// Status makes the processors of GET /v1/status/routes.
func Status(cfg *Config) stream.Factory { return factory(cfg, statusRoutes) }

// statusBody is the answer of GET /v1/status/routes.
type statusBody struct {
	Object string       `json:"object"`
	Tiers  []tierStatus `json:"tiers"`
}

type tierStatus struct {
	Alias      string    `json:"alias"`
	Level      string    `json:"level"`
	Status     string    `json:"status"`
	Band       band      `json:"band"`
	Candidates int       `json:"candidates"`
	Cheapest   *cheapest `json:"cheapest"`
}

type band struct {
	MinTotal string `json:"min_total_per_1m"`
	MaxTotal string `json:"max_total_per_1m"`
}

type cheapest struct {
	RouteID       string `json:"route_id"`
	VisibleInput  string `json:"visible_input_per_1m"`
	VisibleOutput string `json:"visible_output_per_1m"`
	VisibleTotal  string `json:"visible_total_per_1m"`
	Currency      string `json:"currency"`
}

// statusRoutes answers GET /v1/status/routes: per tier its
// alias, level, status, band, live candidate count and cheapest live route.
// A tier the catalog calls available but with no live route reports outage.
func statusRoutes(l *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if l.v == nil {
		return nil, stream.ErrNotReady
	}
	v := l.v
	v.Health.Advance(l.cfg.Now())
	out := statusBody{Object: "list", Tiers: []tierStatus{}}
	for _, t := range v.Index.Tiers() {
		status, live := standing(v, t)
		ts := tierStatus{Alias: t.Alias, Level: t.Level, Status: status, Candidates: live, Band: bandOf(t)}
		if r, ok := v.Index.CheapestLive(t, v.Health); ok && live > 0 {
			ts.Cheapest = &cheapest{RouteID: r.ID, VisibleInput: selector.FormatPrice(r.VisibleInput),
				VisibleOutput: selector.FormatPrice(r.VisibleOutput), VisibleTotal: selector.FormatPrice(r.VisibleTotal), Currency: "USD"}
		}
		out.Tiers = append(out.Tiers, ts)
	}
	return jsonAnswer(out, "cpen_status_routes")
}

// standing is a tier's status as clients see it and its candidates, the
// live routes a request could get: none while the tier is planned or in
// outage, and an available tier without one reports outage.
func standing(v *catalog.Version, t *selector.Tier) (status string, live int) {
	if t.Status != config.TierAvailable {
		return string(t.Status), 0
	}
	if live = v.Index.LiveCount(t, v.Health); live == 0 {
		return string(config.TierOutage), 0
	}
	return string(t.Status), live
}

func bandOf(t *selector.Tier) band {
	return band{MinTotal: selector.FormatPrice(t.MinTotal), MaxTotal: selector.FormatPrice(t.MaxTotal)}
}
