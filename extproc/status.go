package extproc

import (
	"github.com/shopspring/decimal"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

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
	b := make([]byte, 0, 1024)
	b = append(b, `{"object":"list","tiers":[`...)
	for i, t := range rt.index.Tiers() {
		if i > 0 {
			b = append(b, ',')
		}
		live := rt.index.LiveCount(t, rt.health)
		status := string(t.Status)
		if t.Status == config.TierAvailable && live == 0 {
			status = string(config.TierOutage)
		}
		b = append(b, `{"alias":`...)
		b = appendJSONString(b, t.Alias)
		b = append(b, `,"level":`...)
		b = appendJSONString(b, t.Level)
		b = append(b, `,"status":`...)
		b = appendJSONString(b, status)
		b = append(b, `,"band":{"min_total_per_1m":`...)
		b = appendPrice(b, t.MinTotal)
		b = append(b, `,"max_total_per_1m":`...)
		b = appendPrice(b, t.MaxTotal)
		b = append(b, `},"candidates":`...)
		b = appendInt(b, live)
		b = append(b, `,"cheapest":`...)
		if r, ok := rt.index.CheapestLive(t, rt.health); ok && t.Status != config.TierPlanned {
			b = append(b, `{"route_id":`...)
			b = appendJSONString(b, r.ID)
			b = append(b, `,"visible_input_per_1m":`...)
			b = appendPrice(b, r.VisibleInput)
			b = append(b, `,"visible_output_per_1m":`...)
			b = appendPrice(b, r.VisibleOutput)
			b = append(b, `,"visible_total_per_1m":`...)
			b = appendPrice(b, r.VisibleTotal)
			b = append(b, `,"currency":"USD"}`...)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return immediate(200, b, "cpen_status_routes", nil), nil
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
	var key *config.Key
	if auth := headerBytes(h.GetHeaders(), "authorization"); len(auth) > 0 {
		k, ok := x.rt.authenticate(auth)
		if !ok {
			return nil, errUnauthorized
		}
		key = k
	}
	cat := x.rt.cat
	b := make([]byte, 0, 512)
	b = append(b, `{"object":"billing_status","credit_packs":[`...)
	for i, p := range cat.CreditPacks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, p.ID)
		b = append(b, `,"usd":`...)
		b = appendPrice(b, p.USD)
		b = append(b, `,"credits_usd":`...)
		b = appendPrice(b, p.CreditsUSD)
		b = append(b, '}')
	}
	b = append(b, `],"checkout":{"provider":`...)
	b = appendJSONString(b, cat.Checkout.Provider)
	b = append(b, `,"configured":`...)
	b = appendBool(b, cat.Checkout.Configured)
	b = append(b, '}')
	if key != nil {
		b = append(b, `,"account":{"id":`...)
		b = appendJSONString(b, key.Account)
		b = append(b, `,"key_id":`...)
		b = appendJSONString(b, key.ID)
		b = append(b, `,"credit_usd":`...)
		b = appendPrice(b, key.CreditUSD)
		b = append(b, '}')
	}
	b = append(b, '}')
	return immediate(200, b, "cpen_billing_status", nil), nil
}

func onlyGet(h *extprocv3.HttpHeaders) error {
	if m := string(headerBytes(h.GetHeaders(), ":method")); m != "GET" && m != "HEAD" {
		return errMethod
	}
	return nil
}

// appendPrice appends an exact decimal as a JSON string without trailing
// zeros ("0.04", "0").
func appendPrice(b []byte, d decimal.Decimal) []byte {
	return appendJSONString(b, selector.FormatPrice(d))
}
