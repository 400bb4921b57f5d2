package extproc

import (
	"encoding/json"
	"fmt"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

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
func statusRoutes(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if x.rt == nil {
		return nil, errNotReady
	}
	rt := x.rt
	rt.health.Advance(x.srv.opts.now())
	out := statusBody{Object: "list", Tiers: []tierStatus{}}
	for _, t := range rt.index.Tiers() {
		live := rt.index.LiveCount(t, rt.health)
		ts := tierStatus{Alias: t.Alias, Level: t.Level, Status: string(t.Status), Candidates: live,
			Band: band{MinTotal: selector.FormatPrice(t.MinTotal), MaxTotal: selector.FormatPrice(t.MaxTotal)}}
		if t.Status == config.TierAvailable && live == 0 {
			ts.Status = string(config.TierOutage)
		}
		if r, ok := rt.index.CheapestLive(t, rt.health); ok && t.Status != config.TierPlanned {
			ts.Cheapest = &cheapest{RouteID: r.ID, VisibleInput: selector.FormatPrice(r.VisibleInput),
				VisibleOutput: selector.FormatPrice(r.VisibleOutput), VisibleTotal: selector.FormatPrice(r.VisibleTotal), Currency: "USD"}
		}
		out.Tiers = append(out.Tiers, ts)
	}
	return jsonAnswer(out, "cpen_status_routes")
}

// billingBody is the answer of GET /v1/billing/status.
type billingBody struct {
	Object      string       `json:"object"`
	CreditPacks []creditPack `json:"credit_packs"`
	Checkout    checkout     `json:"checkout"`
	Account     *account     `json:"account,omitempty"`
}

type creditPack struct {
	ID         string `json:"id"`
	USD        string `json:"usd"`
	CreditsUSD string `json:"credits_usd"`
}

type checkout struct {
	Provider   string `json:"provider"`
	Configured bool   `json:"configured"`
}

type account struct {
	ID        string `json:"id"`
	KeyID     string `json:"key_id"`
	CreditUSD string `json:"credit_usd"`
}

// billingStatus answers GET /v1/billing/status: the credit
// packs and the checkout state for anyone; with a valid key, also that
// account's credit. A key that is sent but unknown gets 401.
func billingStatus(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if x.rt == nil {
		return nil, errNotReady
	}
	cat := x.rt.cat
	out := billingBody{Object: "billing_status", CreditPacks: []creditPack{},
		Checkout: checkout{Provider: cat.Checkout.Provider, Configured: cat.Checkout.Configured}}
	if auth := headerBytes(h.GetHeaders(), "authorization"); len(auth) > 0 {
		k, ok := x.rt.authenticate(auth)
		if !ok {
			return nil, errUnauthorized
		}
		out.Account = &account{ID: k.Account, KeyID: k.ID, CreditUSD: selector.FormatPrice(k.CreditUSD)}
	}
	for _, p := range cat.CreditPacks {
		out.CreditPacks = append(out.CreditPacks, creditPack{ID: p.ID, USD: selector.FormatPrice(p.USD), CreditsUSD: selector.FormatPrice(p.CreditsUSD)})
	}
	return jsonAnswer(out, "cpen_billing_status")
}

// jsonAnswer answers 200 with v as JSON. These are cold paths: clarity
// over the hand-built bodies of the request path.
func jsonAnswer(v any, kind string) (*extprocv3.ProcessingResponse, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return immediate(200, b, kind, nil), nil
}

func onlyGet(h *extprocv3.HttpHeaders) error {
	if m := string(headerBytes(h.GetHeaders(), ":method")); m != "GET" && m != "HEAD" {
		return errMethod
	}
	return nil
}
