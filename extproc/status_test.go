package extproc

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

// statusAnswer is the body of GET /v1/status/routes as a client reads it.
type statusAnswer struct {
	Object string       `json:"object"`
	Tiers  []tierAnswer `json:"tiers"`
}

type tierAnswer struct {
	Alias      string          `json:"alias"`
	Level      string          `json:"level"`
	Status     string          `json:"status"`
	Band       bandAnswer      `json:"band"`
	Candidates int             `json:"candidates"`
	Cheapest   *cheapestAnswer `json:"cheapest"`
}

type bandAnswer struct {
	MinTotal string `json:"min_total_per_1m"`
	MaxTotal string `json:"max_total_per_1m"`
}

type cheapestAnswer struct {
	RouteID       string `json:"route_id"`
	VisibleInput  string `json:"visible_input_per_1m"`
	VisibleOutput string `json:"visible_output_per_1m"`
	VisibleTotal  string `json:"visible_total_per_1m"`
	Currency      string `json:"currency"`
}

// billingAnswer is the body of GET /v1/billing/status as a client reads it.
type billingAnswer struct {
	Account      *string        `json:"account"`
	CreditUSD    *string        `json:"credit_usd"`
	SpentUSD     *string        `json:"spent_usd"`
	ReservedUSD  *string        `json:"reserved_usd"`
	RemainingUSD *string        `json:"remaining_usd"`
	CreditPacks  []packAnswer   `json:"credit_packs"`
	Checkout     checkoutAnswer `json:"checkout"`
}

type packAnswer struct {
	ID         string `json:"id"`
	USD        string `json:"usd"`
	CreditsUSD string `json:"credits_usd"`
}

type checkoutAnswer struct {
	Provider   string `json:"provider"`
	Configured bool   `json:"configured"`
}

func get(path string, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: headers(true, append([]string{":method", "GET", ":path", path}, kv...)...)}}
}

func TestStatusRoutes(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := run(t, s, get("/v1/status/routes"))
	ir := out[0].GetImmediateResponse()
	if ir.GetStatus().GetCode() != 200 {
		t.Fatalf("status %d", ir.GetStatus().GetCode())
	}
	golden(t, "status_routes.golden.json", ir.GetBody())
	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkStatusFields(t, ir.GetBody(), cat)

	// A catalog where the figures tell more apart: a fee, a cheapest route
	// priced in EUR, paused routes cheaper than every live one, an
	// available tier with no live route, and planned and outage tiers with
	// live routes (no candidates: a request cannot get them).
	edited := testCatalog(t)
	edited = mustReplace(t, edited, `fee_rate: "0"`, `fee_rate: "0.05"`)
	edited = mustReplace(t, edited, "    input_per_1m: \"0.05\"\n    output_per_1m: \"0.25\"\n    currency: EUR\n",
		"    input_per_1m: \"0.01\"\n    output_per_1m: \"0.2\"\n    currency: EUR\n")
	edited = mustReplace(t, edited, "providers:\n", `  - alias: cpen/spare
    level: spare
    min_total_per_1m: "0"
    max_total_per_1m: "1"
  - alias: cpen/soon
    level: soon
    min_total_per_1m: "0"
    max_total_per_1m: "1"
    status: planned
  - alias: cpen/down
    level: down
    min_total_per_1m: "0"
    max_total_per_1m: "1"
    status: outage
providers:
`)
	edited = mustReplace(t, edited, "keys:\n", `  - id: route_low_paused
    tier: low
    provider: prov_a
    model: upstream-pico
    input_per_1m: "0.001"
    output_per_1m: "0.001"
    status: paused
  - id: route_spare_paused
    tier: spare
    provider: prov_a
    model: upstream-spare
    input_per_1m: "0.001"
    output_per_1m: "0.001"
    status: paused
  - id: route_soon_live
    tier: soon
    provider: prov_a
    model: upstream-soon
    input_per_1m: "0.1"
    output_per_1m: "0.1"
  - id: route_down_live
    tier: down
    provider: prov_a
    model: upstream-down
    input_per_1m: "0.1"
    output_per_1m: "0.1"
keys:
`)
	apply(t, s, edited)
	if cat, err = config.Load([]byte(edited)); err != nil {
		t.Fatal(err)
	}
	checkStatusFields(t, run(t, s, get("/v1/status/routes"))[0].GetImmediateResponse().GetBody(), cat)
}

// checkStatusFields holds a status answer to the catalog it was given on a
// fresh server, every route healthy: every tier in catalog order with its
// level, status and band, its candidates and its cheapest live route.
func checkStatusFields(t *testing.T, body []byte, cat *config.Catalog) {
	t.Helper()
	var got statusAnswer
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if got.Object != "list" || len(got.Tiers) != len(cat.Tiers) {
		t.Fatalf("object %q with %d tiers, want list with %d", got.Object, len(got.Tiers), len(cat.Tiers))
	}
	for i, ct := range cat.Tiers {
		g := got.Tiers[i]
		live := liveRoutes(cat, ct)
		status := string(ct.Status)
		if ct.Status == config.TierAvailable && len(live) == 0 {
			status = string(config.TierOutage)
		}
		want := tierAnswer{Alias: ct.Alias, Level: ct.Level, Status: status, Candidates: len(live),
			Band: bandAnswer{MinTotal: selector.FormatPrice(ct.MinTotal), MaxTotal: selector.FormatPrice(ct.MaxTotal)}}
		gotCheapest := g.Cheapest
		g.Cheapest = nil
		if g != want {
			t.Errorf("tier %s: got %+v, want %+v", ct.Alias, g, want)
		}
		checkCheapest(t, ct.Alias, gotCheapest, live)
	}
}

// pricedRoute is a route with its visible prices, in USD per 1M tokens.
type pricedRoute struct {
	id                   string
	input, output, total decimal.Decimal
}

// liveRoutes are the routes a request for tier t could get on a fresh
// server, with their visible prices: none for a tier that is not
// available, else the tier's live routes, each price converted at its
// currency's USD rate and marked up by the fee.
func liveRoutes(cat *config.Catalog, t config.Tier) []pricedRoute {
	if t.Status != config.TierAvailable {
		return nil
	}
	markup := decimal.NewFromInt(1).Add(cat.FeeRate)
	var out []pricedRoute
	for _, r := range cat.Routes {
		if r.Tier != t.Level || r.Status != config.RouteLive {
			continue
		}
		rate := cat.USDRates[r.Currency]
		in, outp := r.InputPer1M.Mul(rate).Mul(markup), r.OutputPer1M.Mul(rate).Mul(markup)
		out = append(out, pricedRoute{id: r.ID, input: in, output: outp, total: in.Add(outp)})
	}
	return out
}

// checkCheapest holds a tier's cheapest route to the live route with the
// lowest visible total (ties by route id), prices compared exactly; null
// when the tier has none.
func checkCheapest(t *testing.T, alias string, got *cheapestAnswer, live []pricedRoute) {
	t.Helper()
	if len(live) == 0 {
		if got != nil {
			t.Errorf("tier %s: cheapest %+v, want null", alias, got)
		}
		return
	}
	best := live[0]
	for _, r := range live[1:] {
		if c := r.total.Cmp(best.total); c < 0 || (c == 0 && r.id < best.id) {
			best = r
		}
	}
	if got == nil {
		t.Fatalf("tier %s: cheapest null, want %s", alias, best.id)
	}
	if got.RouteID != best.id || got.Currency != "USD" {
		t.Errorf("tier %s: cheapest %s in %s, want %s in USD", alias, got.RouteID, got.Currency, best.id)
	}
	for _, p := range []struct {
		name, got string
		want      decimal.Decimal
	}{
		{"visible_input_per_1m", got.VisibleInput, best.input},
		{"visible_output_per_1m", got.VisibleOutput, best.output},
		{"visible_total_per_1m", got.VisibleTotal, best.total},
	} {
		d, err := decimal.NewFromString(p.got)
		if err != nil || !d.Equal(p.want) {
			t.Errorf("tier %s: %s = %q, want %s", alias, p.name, p.got, p.want)
		}
	}
}

func TestBillingStatus(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	tests := []struct {
		name   string
		kv     []string
		status int
		golden string
	}{
		{"public", nil, 200, "billing_public.golden.json"},
		{"with key", []string{"authorization", "Bearer " + seedKey}, 200, "billing_key.golden.json"},
		{"with credit", []string{"authorization", "Bearer " + otherKey}, 200, "billing_credit.golden.json"},
		{"bad key", []string{"authorization", "Bearer cpen_live_nope"}, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ir := run(t, s, get("/v1/billing/status", tc.kv...))[0].GetImmediateResponse()
			if int(ir.GetStatus().GetCode()) != tc.status {
				t.Fatalf("status %d, want %d", ir.GetStatus().GetCode(), tc.status)
			}
			if tc.golden != "" {
				golden(t, tc.golden, ir.GetBody())
				checkBillingFields(t, s, ir.GetBody(), tc.kv)
			}
		})
	}
}

// Guests need no key and share one limit per client address (the
// catalog's guest_rpm, 2 by default), taken from Envoy's source.address
// attribute: x-forwarded-for entries, which a client can write, count for
// nothing. The limit names the address.
func TestPlaygroundGuestLimit(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	body := `{"model":"cpen/low","messages":[]}`
	for i := 0; i < 2; i++ {
		// Each request claims another forwarded address; the source is the same.
		out := run(t, s, guestHeaders("198.51.100.7:40000", "203.0.113."+itoa(i)), reqBody(body))
		if out[1].GetRequestBody() == nil {
			t.Fatalf("guest request %d refused: %v", i, out[1])
		}
		if got := mutationOf(out[1].GetRequestBody().GetResponse()); !contains(got, ":path=/v1/chat/completions") {
			t.Errorf("upstream path: %q", got)
		}
	}
	_, eb, h := immediateOf(t, run(t, s, guestHeaders("198.51.100.7:40001", "203.0.113.99"), reqBody(body)))
	if eb.Error.Code != "rpm_cap_exceeded" || !strings.Contains(eb.Detail, "guest address 198.51.100.7 ") || h["x-ratelimit-limit-requests"] != "2" {
		t.Errorf("third guest request: %+v %v", eb, h)
	}
	// Another source address has its own window, whatever it forwards.
	if out := run(t, s, guestHeaders("198.51.100.8:40000", "198.51.100.7"), reqBody(body)); out[1].GetRequestBody() == nil {
		t.Errorf("another address was limited: %v", out[1])
	}
	// Envoy renders addresses taken through trusted hops with port 0, and
	// IPv6 in brackets.
	if out := run(t, s, guestHeaders("[2001:db8::1]:0", ""), reqBody(body)); out[1].GetRequestBody() == nil {
		t.Errorf("an IPv6 address was refused: %v", out[1])
	}
}

// A guest request without a usable source address is refused, never pooled
// with others under one "unknown" address.
func TestPlaygroundNoAddress(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	for _, addr := range []string{"", "not-an-address", "198.51.100.7:99999"} {
		ir, eb, h := immediateOf(t, run(t, s, guestHeaders(addr, "198.51.100.7")))
		if ir.GetStatus().GetCode() != 503 || eb.Error.Code != "client_address_unknown" || eb.Error.Type != "service_unavailable" || h["x-cpen-status"] != "rejected" {
			t.Errorf("source.address %q: %d %+v", addr, ir.GetStatus().GetCode(), eb)
		}
	}
}

// guestHeaders is a playground request as Envoy sends it: source.address
// (omitted when empty) and the client's x-forwarded-for with the peer
// appended.
func guestHeaders(source, xff string) *extprocv3.ProcessingRequest {
	req := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: headers(false,
		":method", "POST", ":path", "/playground/v1/chat/completions", "x-forwarded-for", xff)}}
	if source != "" {
		req.Attributes = map[string]*structpb.Struct{"envoy.filters.http.ext_proc": {Fields: map[string]*structpb.Value{
			"source.address": structpb.NewStringValue(source)}}}
	}
	return req
}

func TestPlaygroundPage(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	ir := run(t, s, get("/playground"))[0].GetImmediateResponse()
	if ir.GetStatus().GetCode() != 200 || !strings.Contains(string(ir.GetBody()), "/playground/v1/chat/completions") {
		t.Errorf("/playground: %d", ir.GetStatus().GetCode())
	}
}

// checkBillingFields holds a billing answer to the catalog: its packs and
// checkout for anyone, and with a key its account's fields: a key with
// credit shows it whole (nothing spent yet), an unlimited one null credit
// and remaining. The public answer has only packs and checkout.
func checkBillingFields(t *testing.T, s *Server, body []byte, auth []string) {
	t.Helper()
	var got billingAnswer
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(body, &fields)
	cat := s.versions.Load().Catalog
	if len(got.CreditPacks) != len(cat.CreditPacks) ||
		got.Checkout != (checkoutAnswer{Provider: cat.Checkout.Provider, Configured: cat.Checkout.Configured}) {
		t.Errorf("billing %+v does not match the catalog", got)
	}
	for i, p := range cat.CreditPacks {
		want := packAnswer{ID: p.ID, USD: selector.FormatPrice(p.USD), CreditsUSD: selector.FormatPrice(p.CreditsUSD)}
		if i < len(got.CreditPacks) && got.CreditPacks[i] != want {
			t.Errorf("pack %d: %+v, want %+v", i, got.CreditPacks[i], want)
		}
	}
	if auth == nil {
		if len(fields) != 2 {
			t.Errorf("public billing has fields %v, want credit_packs and checkout only", slices.Collect(maps.Keys(fields)))
		}
		return
	}
	if len(fields) != 7 {
		t.Errorf("billing with a key has fields %v, want 7", slices.Collect(maps.Keys(fields)))
	}
	var key *config.Key
	for i := range cat.Keys {
		if sum := sha256.Sum256([]byte(strings.TrimPrefix(auth[1], "Bearer "))); cat.Keys[i].SHA256 == hex.EncodeToString(sum[:]) {
			key = &cat.Keys[i]
		}
	}
	if key == nil {
		t.Fatal("no catalog key for the request")
	}
	str := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	wantCredit, wantRemaining := "null", "null"
	if key.Limited {
		wantCredit, wantRemaining = selector.FormatPrice(key.CreditUSD), selector.FormatPrice(key.CreditUSD)
	}
	if str(got.Account) != key.Account || str(got.CreditUSD) != wantCredit || str(got.RemainingUSD) != wantRemaining ||
		str(got.SpentUSD) != "0" || str(got.ReservedUSD) != "0" {
		t.Errorf("billing for %s: account %s credit %s spent %s reserved %s remaining %s, want %s %s 0 0 %s", key.ID,
			str(got.Account), str(got.CreditUSD), str(got.SpentUSD), str(got.ReservedUSD), str(got.RemainingUSD),
			key.Account, wantCredit, wantRemaining)
	}
}
