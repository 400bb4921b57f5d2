package local

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector"
)

// Billing makes the processors of GET /v1/billing/status.
func Billing(cfg *Config) stream.Factory { return factory(cfg, billingStatus) }

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
func billingStatus(l *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if l.v == nil {
		return nil, stream.ErrNotReady
	}
	cat := l.v.Catalog
	out := billingBody{Object: "billing_status", CreditPacks: []creditPack{},
		Checkout: checkout{Provider: cat.Checkout.Provider, Configured: cat.Checkout.Configured}}
	if auth := stream.HeaderBytes(h.GetHeaders(), "authorization"); len(auth) > 0 {
		k, ok := l.v.Authenticate(auth)
		if !ok {
			return nil, stream.ErrUnauthorized
		}
		out.Account = &account{ID: k.Account, KeyID: k.ID, CreditUSD: selector.FormatPrice(k.CreditUSD)}
	}
	for _, p := range cat.CreditPacks {
		out.CreditPacks = append(out.CreditPacks, creditPack{ID: p.ID, USD: selector.FormatPrice(p.USD), CreditsUSD: selector.FormatPrice(p.CreditsUSD)})
	}
	return jsonAnswer(out, "cpen_billing_status")
}
