package extproc

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
)

// visibleCost prices tokens on a catalog route from the catalog's own
// figures: price × usd rate × (1 + fee) per 1M tokens.
func visibleCost(t *testing.T, routeID string, prompt, completion int64) decimal.Decimal {
	t.Helper()
	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	markup := decimal.NewFromInt(1).Add(cat.FeeRate)
	for _, r := range cat.Routes {
		if r.ID == routeID {
			rate := cat.USDRates[r.Currency]
			in := r.InputPer1M.Mul(rate).Mul(markup).Mul(decimal.NewFromInt(prompt))
			out := r.OutputPer1M.Mul(rate).Mul(markup).Mul(decimal.NewFromInt(completion))
			return in.Add(out).Div(decimal.NewFromInt(1_000_000))
		}
	}
	t.Fatalf("no route %s", routeID)
	return decimal.Zero
}

// key_other has 5 USD of credit: a request whose worst case is more is
// refused with both figures, after a request that fits, and takes no RPM
// slot (key_other has 2 per minute).
func TestInsufficientCredit(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	huge := `{"model":"cpen/middle","routing":{"strategy":"cheapest"},"max_completion_tokens":100000000}`
	reservation := visibleCost(t, "route_mid_01", int64(len(huge)), 100_000_000)
	for i := range 3 {
		ir, eb, h := immediateOf(t, run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(huge)))
		want := fmt.Sprintf("Insufficient credit: 5 USD remaining, this request may cost up to %s USD", selector.FormatPrice(reservation))
		if ir.GetStatus().GetCode() != 402 || eb.Error.Code != "insufficient_credit" || eb.Error.Type != "insufficient_budget" ||
			eb.Detail != want || h["x-ratelimit-remaining-requests"] != "" {
			t.Fatalf("request %d: %d %+v %v, want 402 %q", i, ir.GetStatus().GetCode(), eb, h, want)
		}
	}
	for i := range 2 {
		out := run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(`{"model":"cpen/middle","max_tokens":10}`))
		if out[1].GetRequestBody() == nil {
			t.Fatalf("admission %d after credit refusals: %v", i, out[1])
		}
	}
}

// A key with credit and a server whose rate limiter has no ledger: the
// request is refused 503, never served without a ledger; a key without
// credit is served.
func TestCreditWithoutLedger(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml", WithLimiter(unlimited{}))
	ir, eb, _ := immediateOf(t, run(t, s, reqHeaders("/v1/chat/completions", otherKey), reqBody(`{"model":"cpen/middle"}`)))
	if ir.GetStatus().GetCode() != 503 || eb.Error.Code != "state_unavailable" || eb.Error.Type != "service_unavailable" {
		t.Fatalf("%d %+v, want 503 state_unavailable", ir.GetStatus().GetCode(), eb)
	}
	out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(`{"model":"cpen/middle"}`))
	if out[1].GetRequestBody() == nil {
		t.Fatalf("unlimited key refused: %v", out[1])
	}
}

// Receipts: a provider error costs "0"; an answer without usage costs the
// request's worst case, since the provider may bill for it.
func TestReceipts(t *testing.T) {
	body := `{"model":"cpen/middle","routing":{"strategy":"cheapest"},"max_tokens":7}`
	cases := []struct {
		name, status, answer string
		want                 decimal.Decimal
	}{
		{"provider error", "500", `{"error":{"message":"boom"}}`, decimal.Zero},
		{"usage", "200", `{"id":"c","model":"upstream-mini","usage":{"prompt_tokens":42,"completion_tokens":18}}`,
			visibleCost(t, "route_mid_01", 42, 18)},
		{"no usage", "200", `{"id":"c","model":"upstream-mini"}`, visibleCost(t, "route_mid_01", int64(len(body)), 7)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A server per case: the provider error ejects route_mid_01.
			s, _ := newTestServer(t, "testdata/catalog.yaml")
			out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body),
				respHeaders(tc.status, "application/json"), respBody(tc.answer))
			var got map[string]any
			if err := json.Unmarshal(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody(), &got); err != nil {
				t.Fatal(err)
			}
			if got["cpen_cost_usd"] != selector.FormatPrice(tc.want) {
				t.Errorf("cpen_cost_usd %v, want %s", got["cpen_cost_usd"], selector.FormatPrice(tc.want))
			}
		})
	}
}
