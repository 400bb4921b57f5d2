package selector

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
)

func TestNewIndexSeedRoute(t *testing.T) {
	ix := mustIndex(t, seedCatalog())
	r, ok := ix.RouteByID("route_mid_01")
	if !ok {
		t.Fatal("route_mid_01 missing")
	}
	fields := []struct {
		name string
		got  decimal.Decimal
		want string
	}{
		{"InputPer1M", r.InputPer1M, "0.04"},
		{"OutputPer1M", r.OutputPer1M, "0.24"},
		{"InputUSD", r.InputUSD, "0.04"},
		{"OutputUSD", r.OutputUSD, "0.24"},
		{"VisibleInput", r.VisibleInput, "0.04"},
		{"VisibleOutput", r.VisibleOutput, "0.24"},
		{"VisibleTotal", r.VisibleTotal, "0.28"},
		{"EstimatedCost", r.EstimatedCost, "0.18"},
		{"EstimatedTotal", r.EstimatedTotal, "0.18"},
		{"FeeRate", r.FeeRate, "0"},
	}
	for _, f := range fields {
		if got := FormatPrice(f.got); got != f.want {
			t.Errorf("%s = %s, want %s", f.name, got, f.want)
		}
	}
	if r.Level != "middle" || r.ProviderName != "openai" || r.Model != "model-route_mid_01" ||
		r.ModelFamily != "gpt-mini-or-flash-class" || r.Currency != "USD" || r.Status != config.RouteLive || r.Index != 2 {
		t.Errorf("static fields = %+v", r)
	}
	want := `"route_id":"route_mid_01","intelligence_level":"middle","model_family":"gpt-mini-or-flash-class",` +
		`"input_per_1m":"0.04","output_per_1m":"0.24","currency":"USD","input_usd_per_1m":"0.04",` +
		`"output_usd_per_1m":"0.24","estimated_cost_usd_per_1m":"0.18","cpen_fee_rate":"0",` +
		`"estimated_total_usd_per_1m":"0.18"`
	if string(r.MetaJSON) != want {
		t.Errorf("MetaJSON =\n%s\nwant\n%s", r.MetaJSON, want)
	}
}

func TestMetaJSONWithEURAndFee(t *testing.T) {
	cat := catalog(inEUR(route("r_eur", "middle", `fam "quoted" <&>`, "0.05", "0.25")))
	cat.FeeRate = mustDec("0.05")
	ix := mustIndex(t, cat)
	r, _ := ix.RouteByID("r_eur")
	want := `"route_id":"r_eur","intelligence_level":"middle","model_family":"fam \"quoted\" <&>",` +
		`"input_per_1m":"0.05","output_per_1m":"0.25","currency":"EUR","input_usd_per_1m":"0.054",` +
		`"output_usd_per_1m":"0.27","estimated_cost_usd_per_1m":"0.2052","cpen_fee_rate":"0.05",` +
		`"estimated_total_usd_per_1m":"0.21546"`
	if string(r.MetaJSON) != want {
		t.Errorf("MetaJSON =\n%s\nwant\n%s", r.MetaJSON, want)
	}
	if got := FormatPrice(r.VisibleTotal); got != "0.3402" {
		t.Errorf("VisibleTotal = %s, want 0.3402", got)
	}
}

func TestNewIndexOrderAndLookups(t *testing.T) {
	ix := mustIndex(t, catalog(
		route("m_b", "middle", "f", "0.10", "0.10"),
		route("m_c", "middle", "f", "0.05", "0.05"),
		route("m_a", "middle", "f", "0.10", "0.10"),
		route("l_a", "low", "f", "0.01", "0.01"),
		inEUR(route("m_eur", "middle", "f", "0.05", "0.05")), // 0.108
	))
	for i, r := range ix.Routes() {
		if r.Index != i {
			t.Errorf("Routes()[%d].Index = %d", i, r.Index)
		}
	}
	if ix.NumRoutes() != 5 {
		t.Errorf("NumRoutes = %d", ix.NumRoutes())
	}
	tier, ok := ix.Tier("cpen/middle")
	if !ok || tier.Level != "middle" || tier.Status != config.TierAvailable ||
		FormatPrice(tier.MinTotal) != "0.05" || FormatPrice(tier.MaxTotal) != "0.35" {
		t.Fatalf("Tier(cpen/middle) = %+v, %v", tier, ok)
	}
	var ids []string
	for _, r := range tier.Routes() {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, ","), "m_c,m_eur,m_a,m_b"; got != want {
		t.Errorf("middle order = %s, want %s", got, want)
	}
	if _, ok := ix.Tier("cpen/nope"); ok {
		t.Error("unknown alias found")
	}
	if _, ok := ix.RouteByID("nope"); ok {
		t.Error("unknown route found")
	}
	if got := len(ix.Tiers()); got != 3 {
		t.Errorf("Tiers = %d", got)
	}
	// Routes() and Tiers() are copies.
	ix.Routes()[0] = nil
	tier.Routes()[0] = nil
	if ix.Routes()[0] == nil || tier.Routes()[0] == nil {
		t.Error("Routes() exposes internal slices")
	}
}

// NewIndex fails only where it cannot build: catalog checks, such as
// duplicate aliases, levels or route ids, are config.Load's.
func TestNewIndexErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *config.Catalog)
		want string
	}{
		{name: "band with 13 digits", edit: func(c *config.Catalog) { c.Tiers[1].MaxTotal = mustDec("0.3500000000001") }, want: "band max"},
		{name: "negative band", edit: func(c *config.Catalog) { c.Tiers[1].MinTotal = mustDec("-1") }, want: "band min"},
		{name: "missing tier", edit: func(c *config.Catalog) { c.Routes[0].Tier = "mega" }, want: `no tier with level "mega"`},
		{name: "currency without rate", edit: func(c *config.Catalog) { c.Routes[0].Currency = "GBP" }, want: `currency "GBP" has no USD rate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := seedCatalog()
			tt.edit(cat)
			_, err := NewIndex(cat)
			if !errors.Is(err, ErrInvalidCatalog) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalidCatalog with %q", err, tt.want)
			}
		})
	}
	t.Run("nil catalog", func(t *testing.T) {
		if _, err := NewIndex(nil); !errors.Is(err, ErrInvalidCatalog) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("every problem is reported", func(t *testing.T) {
		cat := seedCatalog()
		cat.Routes[0].Currency = "GBP"
		cat.Routes[1].Tier = "mega"
		_, err := NewIndex(cat)
		if err == nil || !strings.Contains(err.Error(), "GBP") || !strings.Contains(err.Error(), "mega") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("USD without an explicit rate and empty currency", func(t *testing.T) {
		cat := seedCatalog()
		delete(cat.USDRates, "USD")
		cat.Routes[0].Currency = ""
		ix := mustIndex(t, cat)
		r, _ := ix.RouteByID(cat.Routes[0].ID)
		if r.Currency != "USD" || FormatPrice(r.InputUSD) != "0.02" {
			t.Errorf("route = %s %s", r.Currency, r.InputUSD)
		}
	})
}

// Every cap and band config.Load accepts has a fixed-point form.
func TestFixedScaleIsCatalogPrecision(t *testing.T) {
	if fixedScale != config.MaxPriceDecimals {
		t.Errorf("fixed-point scale %d, catalog precision %d", fixedScale, config.MaxPriceDecimals)
	}
}

func TestTierStatusHelpers(t *testing.T) {
	ix := mustIndex(t, catalog(
		paused(route("m_cheap_paused", "middle", "f", "0.01", "0.04")),
		route("m_down", "middle", "f", "0.02", "0.04"),
		route("m_full", "middle", "f", "0.03", "0.04"),
		route("m_ok", "middle", "f", "0.04", "0.04"),
	))
	tier, _ := ix.Tier("cpen/middle")
	h := healthOf(t, ix, map[string]RouteHealth{"m_down": {Down: true}, "m_full": {AtCapacity: true}})
	if n := ix.LiveCount(tier, h); n != 2 {
		t.Errorf("LiveCount = %d, want 2 (at capacity counts as live)", n)
	}
	r, ok := ix.CheapestLive(tier, h)
	if !ok || r.ID != "m_full" {
		t.Errorf("CheapestLive = %v, %v; want m_full", r, ok)
	}
	if n := tier.LiveCount(nil); n != 3 {
		t.Errorf("LiveCount(nil) = %d, want 3", n)
	}
	low, _ := ix.Tier("cpen/low")
	if _, ok := low.CheapestLive(h); ok || low.LiveCount(h) != 0 {
		t.Error("empty tier has a live route")
	}
}
