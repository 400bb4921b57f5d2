package local

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector"
)

// Billing makes the processors of GET /v1/billing/status.
func Billing(cfg *Config) stream.Factory { return factory(cfg, billingStatus) }

// publicBilling is the answer of GET /v1/billing/status without a key.
type publicBilling struct {
	CreditPacks []creditPack `json:"credit_packs"`
	Checkout    checkout     `json:"checkout"`
}

// keyedBilling is the answer with a key: its account's ledger, amounts as
// decimal strings; credit_usd and remaining_usd are null for an unlimited
// key.
type keyedBilling struct {
	Account      string       `json:"account"`
	CreditUSD    *string      `json:"credit_usd"`
	SpentUSD     string       `json:"spent_usd"`
	ReservedUSD  string       `json:"reserved_usd"`
	RemainingUSD *string      `json:"remaining_usd"`
	CreditPacks  []creditPack `json:"credit_packs"`
	Checkout     checkout     `json:"checkout"`
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

// billingStatus answers GET /v1/billing/status: the credit packs and the
// checkout state for anyone; with a valid key, also its account's credit,
// spend, open reservations and what remains, as every replica sees them.
// A key that is sent but unknown gets 401.
func billingStatus(l *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	if l.v == nil {
		return nil, stream.ErrNotReady
	}
	cat := l.v.Catalog
	packs := make([]creditPack, 0, len(cat.CreditPacks))
	for _, p := range cat.CreditPacks {
		packs = append(packs, creditPack{ID: p.ID, USD: selector.FormatPrice(p.USD), CreditsUSD: selector.FormatPrice(p.CreditsUSD)})
	}
	co := checkout{Provider: cat.Checkout.Provider, Configured: cat.Checkout.Configured}
	auth := stream.HeaderBytes(h.GetHeaders(), "authorization")
	if len(auth) == 0 {
		return jsonAnswer(publicBilling{CreditPacks: packs, Checkout: co}, "cpen_billing_status")
	}
	k, ok := l.v.Authenticate(auth)
	if !ok {
		return nil, stream.ErrUnauthorized
	}
	out := keyedBilling{Account: k.Account, SpentUSD: "0", ReservedUSD: "0", CreditPacks: packs, Checkout: co}
	if k.Limited {
		b, err := l.cfg.Ledger.Balance(l.x.Context(), k.Account, l.cfg.Now())
		if err != nil {
			return nil, stream.Refuse(stream.CauseStateUnavailable, "Credit ledger unavailable: the account's balance cannot be read", err)
		}
		credit := selector.FormatPrice(k.CreditUSD)
		remaining := selector.FormatPrice(k.CreditUSD.Sub(b.Spent).Sub(b.Reserved))
		out.CreditUSD, out.RemainingUSD = &credit, &remaining
		out.SpentUSD, out.ReservedUSD = selector.FormatPrice(b.Spent), selector.FormatPrice(b.Reserved)
	}
	return jsonAnswer(out, "cpen_billing_status")
}
