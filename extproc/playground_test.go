package extproc

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

// playRoutesAnswer is the body of GET /playground/routes as the page reads
// it.
type playRoutesAnswer struct {
	Object string           `json:"object"`
	Tiers  []playTierAnswer `json:"tiers"`
}

type playTierAnswer struct {
	Alias  string            `json:"alias"`
	Level  string            `json:"level"`
	Status string            `json:"status"`
	Band   bandAnswer        `json:"band"`
	Routes []playRouteAnswer `json:"routes"`
}

type playRouteAnswer struct {
	RouteID       string `json:"route_id"`
	ModelFamily   string `json:"model_family"`
	VisibleInput  string `json:"visible_input_per_1m"`
	VisibleOutput string `json:"visible_output_per_1m"`
	VisibleTotal  string `json:"visible_total_per_1m"`
	Currency      string `json:"currency"`
	Live          bool   `json:"live"`
}

// The route table of the playground, against the catalog it was given:
// every tier with its routes in price order and exact visible prices, a
// fee and a EUR rate applied, paused routes left out, an ejected route
// shown as not live, and no provider or upstream model name anywhere.
func TestPlaygroundRoutes(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkPlayRoutes(t, playRoutes(t, s), cat, nil)

	// route_mid_01 ejected: still listed, not live; the tier stays available.
	ejectMid01(t, s)
	checkPlayRoutes(t, playRoutes(t, s), cat, map[string]bool{"route_mid_01": true})

	// A fee, a paused route cheaper than every live one, and a tier whose
	// only route is paused (outage, nothing listed).
	edited := testCatalog(t)
	edited = mustReplace(t, edited, `fee_rate: "0"`, `fee_rate: "0.05"`)
	edited = mustReplace(t, edited, "providers:\n", `  - alias: cpen/spare
    level: spare
    min_total_per_1m: "0"
    max_total_per_1m: "1"
providers:
`)
	edited = mustReplace(t, edited, "keys:\n", `  - id: route_mid_paused
    tier: middle
    provider: prov_a
    model: upstream-paused
    model_family: paused-class
    input_per_1m: "0.001"
    output_per_1m: "0.001"
    status: paused
  - id: route_spare_paused
    tier: spare
    provider: prov_b
    model: upstream-spare
    input_per_1m: "0.001"
    output_per_1m: "0.001"
    status: paused
keys:
`)
	apply(t, s, edited)
	if cat, err = config.Load([]byte(edited)); err != nil {
		t.Fatal(err)
	}
	got := playRoutes(t, s)
	// The ejection outlives the reload, as it does for selection.
	checkPlayRoutes(t, got, cat, map[string]bool{"route_mid_01": true})
	mid := got.Tiers[1]
	if ids := routeIDs(mid.Routes); !slices.Equal(ids, []string{"route_mid_01", "route_mid_02", "route_mid_03"}) {
		t.Errorf("middle routes %v, want route_mid_01, route_mid_02, route_mid_03 in price order", ids)
	}
	// 0.04 and 0.24 with a fee of 5%; 0.05 EUR at 1.08, then the fee.
	if r := mid.Routes[0]; r.VisibleInput != "0.042" || r.VisibleOutput != "0.252" || r.VisibleTotal != "0.294" {
		t.Errorf("route_mid_01 prices %s + %s = %s, want 0.042 + 0.252 = 0.294", r.VisibleInput, r.VisibleOutput, r.VisibleTotal)
	}
	if r := mid.Routes[2]; r.VisibleInput != "0.0567" || r.VisibleTotal != "0.3402" {
		t.Errorf("route_mid_03 input %s total %s, want 0.0567 and 0.3402", r.VisibleInput, r.VisibleTotal)
	}
	if spare := got.Tiers[3]; spare.Status != "outage" || len(spare.Routes) != 0 {
		t.Errorf("spare tier %s with %d routes, want outage with none", spare.Status, len(spare.Routes))
	}
}

// The table is read-only: another method is refused like on the other
// local endpoints.
func TestPlaygroundRoutesMethod(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	ir, eb, _ := immediateOf(t, run(t, s, reqHeaders("/playground/routes", "")))
	if ir.GetStatus().GetCode() != 405 {
		t.Errorf("POST /playground/routes: %d %+v, want 405", ir.GetStatus().GetCode(), eb)
	}
}

// The page is HTML that reads the route table and chats as a guest, and
// its policy keeps it on its own origin.
func TestPlaygroundPageServes(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	ir := run(t, s, get("/playground"))[0].GetImmediateResponse()
	h := map[string]string{}
	for _, hv := range ir.GetHeaders().GetSetHeaders() {
		h[hv.GetHeader().GetKey()] = string(hv.GetHeader().GetRawValue())
	}
	if ir.GetStatus().GetCode() != 200 || h["content-type"] != "text/html; charset=utf-8" {
		t.Fatalf("/playground: %d %q", ir.GetStatus().GetCode(), h["content-type"])
	}
	if csp := h["content-security-policy"]; !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("content-security-policy %q", csp)
	}
	page := string(ir.GetBody())
	for _, want := range []string{`fetch("/playground/routes"`, `fetch("/playground/v1/chat/completions"`, `name="viewport"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Data from the server goes into the page as text, never as markup.
	if strings.Contains(page, "innerHTML") || strings.Contains(page, "insertAdjacentHTML") {
		t.Error("page writes markup from data")
	}
}

func playRoutes(t *testing.T, s *Server) playRoutesAnswer {
	t.Helper()
	ir := run(t, s, get("/playground/routes"))[0].GetImmediateResponse()
	if ir.GetStatus().GetCode() != 200 {
		t.Fatalf("/playground/routes: %d %s", ir.GetStatus().GetCode(), ir.GetBody())
	}
	var got playRoutesAnswer
	if err := json.Unmarshal(ir.GetBody(), &got); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	// Provider and upstream model names are secret.
	for _, p := range catalogOf(t, s).Providers {
		if strings.Contains(string(ir.GetBody()), p.Name) {
			t.Errorf("provider name %q in %s", p.Name, ir.GetBody())
		}
	}
	for _, r := range catalogOf(t, s).Routes {
		if strings.Contains(string(ir.GetBody()), r.Model) {
			t.Errorf("upstream model %q in %s", r.Model, ir.GetBody())
		}
	}
	return got
}

// catalogOf is the catalog in force on s.
func catalogOf(t *testing.T, s *Server) *config.Catalog {
	t.Helper()
	v := s.versions.Load()
	if v == nil {
		t.Fatal("no catalog in force")
	}
	return v.Catalog
}

// checkPlayRoutes holds the table to the catalog on a server where the
// routes in down are ejected: every tier in catalog order; an available
// tier lists its routes in status live, cheapest visible total first (ties
// by id), with exact visible prices in USD; other tiers list none.
func checkPlayRoutes(t *testing.T, got playRoutesAnswer, c *config.Catalog, down map[string]bool) {
	t.Helper()
	if got.Object != "list" || len(got.Tiers) != len(c.Tiers) {
		t.Fatalf("object %q with %d tiers, want list with %d", got.Object, len(got.Tiers), len(c.Tiers))
	}
	for i, ct := range c.Tiers {
		g := got.Tiers[i]
		want := wantPlayRoutes(c, ct, down)
		status := string(ct.Status)
		if ct.Status == config.TierAvailable && !slices.ContainsFunc(want, func(r playRouteAnswer) bool { return r.Live }) {
			status = string(config.TierOutage)
		}
		if g.Alias != ct.Alias || g.Level != ct.Level || g.Status != status ||
			!decEqual(g.Band.MinTotal, ct.MinTotal) || !decEqual(g.Band.MaxTotal, ct.MaxTotal) {
			t.Errorf("tier %d: %s %s %s band %+v, want %s %s %s band %s-%s", i, g.Alias, g.Level, g.Status, g.Band,
				ct.Alias, ct.Level, status, ct.MinTotal, ct.MaxTotal)
		}
		if !slices.Equal(routeIDs(g.Routes), routeIDs(want)) {
			t.Errorf("tier %s routes %v, want %v", ct.Alias, routeIDs(g.Routes), routeIDs(want))
			continue
		}
		for j, w := range want {
			r := g.Routes[j]
			if r.ModelFamily != w.ModelFamily || r.Currency != "USD" || r.Live != w.Live ||
				!decEqual(r.VisibleInput, mustDec(w.VisibleInput)) || !decEqual(r.VisibleOutput, mustDec(w.VisibleOutput)) ||
				!decEqual(r.VisibleTotal, mustDec(w.VisibleTotal)) {
				t.Errorf("tier %s route %d: got %+v, want %+v", ct.Alias, j, r, w)
			}
		}
	}
}

// wantPlayRoutes computes a tier's table rows from the catalog alone.
func wantPlayRoutes(c *config.Catalog, ct config.Tier, down map[string]bool) []playRouteAnswer {
	out := []playRouteAnswer{}
	if ct.Status != config.TierAvailable {
		return out
	}
	markup := decimal.NewFromInt(1).Add(c.FeeRate)
	type row struct {
		a     playRouteAnswer
		total decimal.Decimal
	}
	var rows []row
	for _, r := range c.Routes {
		if r.Tier != ct.Level || r.Status != config.RouteLive {
			continue
		}
		rate := c.USDRates[r.Currency]
		in, outp := r.InputPer1M.Mul(rate).Mul(markup), r.OutputPer1M.Mul(rate).Mul(markup)
		rows = append(rows, row{a: playRouteAnswer{RouteID: r.ID, ModelFamily: r.ModelFamily, Currency: "USD", Live: !down[r.ID],
			VisibleInput: in.String(), VisibleOutput: outp.String(), VisibleTotal: in.Add(outp).String()}, total: in.Add(outp)})
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if c := a.total.Cmp(b.total); c != 0 {
			return c
		}
		return strings.Compare(a.a.RouteID, b.a.RouteID)
	})
	for _, r := range rows {
		out = append(out, r.a)
	}
	return out
}

func routeIDs(rs []playRouteAnswer) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.RouteID
	}
	return ids
}

// decEqual reports whether s is a plain decimal string (no exponent, no
// trailing fractional zeros) equal to want.
func decEqual(s string, want decimal.Decimal) bool {
	d, err := decimal.NewFromString(s)
	if err != nil || strings.ContainsAny(s, "eE") || (strings.Contains(s, ".") && strings.HasSuffix(s, "0")) {
		return false
	}
	return d.Equal(want)
}

func mustDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
