package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func TestLoadValid(t *testing.T) {
	c, err := LoadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	checks := []struct {
		name      string
		got, want string
	}{
		{"fee", c.FeeRate.String(), "0.1"},
		{"share", c.InputShare.String(), "0.3"},
		{"EUR rate", c.USDRates["EUR"].String(), "1.08"},
		{"USD rate", c.USDRates["USD"].String(), "1"},
		{"r1 input from a YAML number", c.Routes[0].InputPer1M.String(), "0.04"},
		{"r1 output", c.Routes[0].OutputPer1M.String(), "0.24"},
		{"r1 currency default", c.Routes[0].Currency, "USD"},
		{"r1 status default", string(c.Routes[0].Status), "live"},
		{"r1 family defaults to model", c.Routes[0].ModelFamily, "m1"},
		{"r2 exponent price", c.Routes[1].InputPer1M.String(), "0.28"},
		{"r2 status", string(c.Routes[1].Status), "paused"},
		{"tier status default", string(c.Tiers[0].Status), "available"},
		{"p1 auth header default", c.Providers[0].AuthHeader, "authorization"},
		{"p1 auth scheme default", c.Providers[0].AuthScheme, "Bearer"},
		{"p2 auth header lower-cased", c.Providers[1].AuthHeader, "x-api-key"},
		{"p2 bare key", c.Providers[1].AuthScheme, ""},
		{"p2 prefix trimmed", c.Providers[1].PathPrefix, "/compat/v1"},
		{"key hash lower-cased", c.Keys[0].SHA256, "818021e905556c966a70f23ac9f1e6e38e9b02786b8c74c42436c325141b123d"},
		{"key rpm default", decimal.NewFromInt(int64(c.Keys[0].RPMLimit)).String(), "60"},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.GuestRPM != 2 || c.MaxBodyBytes != 1<<20 || c.MaxJSONDepth != 64 {
		t.Errorf("defaults: guest_rpm %d, max_body_bytes %d, max_json_depth %d", c.GuestRPM, c.MaxBodyBytes, c.MaxJSONDepth)
	}
	// r2: (0.28 + 1) EUR × 1.08 × 1.1 lies above the band: a warning, not an error.
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "route r2") {
		t.Errorf("warnings = %q, want one about r2", c.Warnings)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	tests := []struct {
		file string
		want []string // each must appear in the error text
	}{
		{"bad_price.yaml", []string{
			"routes[0].input_per_1m (line 14): must not be negative",
			`routes[0].output_per_1m (line 15): "abc" is not a decimal`,
		}},
		{"duplicate_route.yaml", []string{`routes[1].id (line 16): duplicate route id "r1"`}},
		{"unknown_field.yaml", []string{"line 6: field colour not found"}},
		{"bad_max_json_depth.yaml", []string{"max_json_depth: must lie in [2, 1000], got 1"}},
		{"bad_credit.yaml", []string{
			"reserve_output_tokens: must lie in [1, 10000000], got 0",
			"reserve_tokens_per_media_part: must lie in [0, 10000000], got -1",
			`keys[2].credit_usd (line 20): account "acct_shared" has credit_usd "25" on key "key_a" but "30" here: keys of one account must agree`,
			`keys[3].credit_usd (line 21): account "acct_shared" has credit_usd "25" on key "key_a" but unset (unlimited) here: keys of one account must agree`,
		}},
		{"missing_refs.yaml", []string{
			`routes[0].tier (line 10): names no tier level "premium"`,
			`routes[0].provider (line 10): names no provider "nobody"`,
			`routes[0].currency (line 10): "GBP" has no rate in usd_rates`,
			"keys[0].sha256 (line 18): must be 64 hex digits",
			"keys[0].rpm_limit (line 18): must lie in [1, 1000000], got 0",
		}},
		{"bad_tier.yaml", []string{
			"tiers[0] (line 2): min_total_per_1m 0.5 is above max_total_per_1m 0.35",
			`tiers[0].status (line 2): must be available, planned or outage, got "retired"`,
			`tiers[1].alias (line 7): duplicate alias "cpen/middle"`,
			`tiers[1].level (line 7): duplicate level "middle"`,
		}},
		{"bad_band.yaml", []string{
			"tiers[0].min_total_per_1m (line 4): must have at most 12 fractional digits, got 0.0000000000001",
			"tiers[0].max_total_per_1m (line 5): must have at most 12 fractional digits, got 0.3500000000001",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("LoadFile accepted a bad catalog")
			}
			if !errors.Is(err, ErrInvalidCatalog) {
				t.Errorf("error does not match ErrInvalidCatalog: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// Trailing zeros past the twelfth fractional digit leave a band bound
// exact, so it loads.
func TestLoadBandTrailingZeros(t *testing.T) {
	c, err := Load([]byte("tiers:\n  - {alias: cpen/low, level: low, min_total_per_1m: \"0.020000000000000\", max_total_per_1m: \"0.2\"}\n"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := c.Tiers[0].MinTotal; !got.Equal(decimal.RequireFromString("0.02")) {
		t.Errorf("min_total_per_1m = %s, want 0.02", got)
	}
}

func TestLoadRejectsOversizedFile(t *testing.T) {
	_, err := Load(make([]byte, MaxCatalogBytes+1))
	if !errors.Is(err, ErrInvalidCatalog) {
		t.Fatalf("got %v, want ErrInvalidCatalog", err)
	}
}

// The default catalog is what operators are promised: the three tiers, two live
// low routes, three middle routes from two providers with one in EUR, and
// the demo key the README prints.
func TestDefaultCatalog(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	tiers := map[string]TierStatus{}
	for _, tr := range c.Tiers {
		tiers[tr.Alias] = tr.Status
	}
	want := map[string]TierStatus{"cpen/low": TierAvailable, "cpen/middle": TierAvailable, "cpen/high": TierPlanned}
	for a, s := range want {
		if tiers[a] != s {
			t.Errorf("tier %s status %q, want %q", a, tiers[a], s)
		}
	}
	live := map[string]int{}
	middleProviders := map[string]bool{}
	eur := false
	for _, r := range c.Routes {
		if r.Status == RouteLive {
			live[r.Tier]++
		}
		if r.Tier == "middle" {
			middleProviders[r.Provider] = true
		}
		eur = eur || r.Currency == "EUR"
	}
	if live["low"] < 2 || live["middle"] < 3 || len(middleProviders) < 2 || !eur {
		t.Errorf("live %v, middle providers %v, EUR route %v", live, middleProviders, eur)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("README: %v", err)
	}
	const demoKey = "cpen_live_demo_4f1c2b7e9a3d5c8b"
	if !strings.Contains(string(readme), demoKey) {
		t.Errorf("README does not print the demo key %s", demoKey)
	}
	sum := sha256.Sum256([]byte(demoKey))
	if len(c.Keys) != 1 || c.Keys[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("the default catalog's key is not the SHA-256 of the README's demo key")
	}
	if len(c.Warnings) != 0 {
		t.Errorf("default catalog warnings: %q", c.Warnings)
	}
	if c.MaxJSONDepth != 64 {
		t.Errorf("default catalog max_json_depth %d, want 64", c.MaxJSONDepth)
	}
}

func TestMaxJSONDepth(t *testing.T) {
	const tiers = "tiers:\n  - {alias: cpen/low, level: low, min_total_per_1m: \"0\", max_total_per_1m: \"1\"}\n"
	tests := []struct {
		name    string
		setting string
		want    int
		problem string
	}{
		{"absent", "", 64, ""},
		{"lowest", "max_json_depth: 2\n", 2, ""},
		{"highest", "max_json_depth: 1000\n", 1000, ""},
		{"too low", "max_json_depth: 1\n", 0, "max_json_depth: must lie in [2, 1000], got 1"},
		{"zero", "max_json_depth: 0\n", 0, "max_json_depth: must lie in [2, 1000], got 0"},
		{"too high", "max_json_depth: 1001\n", 0, "max_json_depth: must lie in [2, 1000], got 1001"},
		{"negative", "max_json_depth: -64\n", 0, "max_json_depth: must lie in [2, 1000], got -64"},
		{"not an integer", "max_json_depth: deep\n", 0, "line 1: cannot unmarshal !!str `deep` into int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load([]byte(tc.setting + tiers))
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.MaxJSONDepth != tc.want {
					t.Errorf("MaxJSONDepth %d, want %d", c.MaxJSONDepth, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalidCatalog) || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %v, want ErrInvalidCatalog with %q", err, tc.problem)
			}
		})
	}
}

// A catalog is one YAML document: a second one is refused rather than
// silently dropped, while empty trailing documents are harmless.
func TestLoadSingleDocument(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(valid), "\n")
	tests := []struct {
		name    string
		suffix  string
		problem string
	}{
		{"one document", "", ""},
		{"document end marker", "...\n", ""},
		{"empty trailing document", "---\n", ""},
		{"trailing document of comments", "---\n# nothing here\n", ""},
		{"second document", "---\nfee_rate: \"0.5\"\n", fmt.Sprintf("line %d: a second YAML document; a catalog is one document", lines+1)},
		{"broken second document", "---\nkeys: [\n", "did not find expected node content"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(append(append([]byte(nil), valid...), tc.suffix...))
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidCatalog) || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %v, want ErrInvalidCatalog with %q", err, tc.problem)
			}
		})
	}
}

func TestResolveSecrets(t *testing.T) {
	c, err := LoadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"P1_KEY": " sk-one\n"}
	got, warnings := ResolveSecrets(c, func(k string) string { return env[k] }, os.ReadFile)
	if got["p1"] != "sk-one" {
		t.Errorf("p1 key %q, want sk-one", got["p1"])
	}
	// p2 names no key source: it takes no key, which is no problem to warn about.
	if got["p2"] != "" || len(warnings) != 0 {
		t.Errorf("p2 key %q, warnings %q", got["p2"], warnings)
	}
	if k := Keyless(c); !slices.Equal(k, []string{"p2"}) {
		t.Errorf("Keyless = %q, want [p2]", k)
	}

	// A named source that yields nothing is a warning, and never shows a key.
	_, warnings = ResolveSecrets(c, func(string) string { return "" }, os.ReadFile)
	if len(warnings) != 1 || warnings[0] != "provider p1: no API key (set env P1_KEY); its requests go out without one" {
		t.Errorf("warnings %q", warnings)
	}
	c.Providers[0].APIKeyEnv, c.Providers[0].APIKeyFile = "", "testdata/no-such-key-file"
	_, warnings = ResolveSecrets(c, func(string) string { return "sk-one" }, os.ReadFile)
	if len(warnings) != 2 || !strings.Contains(warnings[0], "provider p1: cannot read api_key_file") ||
		warnings[1] != "provider p1: no API key (set api_key_file testdata/no-such-key-file); its requests go out without one" {
		t.Errorf("warnings %q", warnings)
	}
	for _, w := range warnings {
		if strings.Contains(w, "sk-one") {
			t.Errorf("a warning shows a key: %q", w)
		}
	}
}

func FuzzLoadCatalog(f *testing.F) {
	for _, name := range []string{"valid.yaml", "bad_price.yaml", "duplicate_route.yaml", "unknown_field.yaml", "missing_refs.yaml", "bad_tier.yaml", "bad_max_json_depth.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(DefaultCatalogYAML())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidCatalog) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if len(c.Tiers) == 0 {
			t.Fatal("a catalog without tiers was accepted")
		}
		for _, r := range c.Routes {
			if r.InputPer1M.IsNegative() || r.OutputPer1M.IsNegative() {
				t.Fatalf("negative price accepted: %+v", r)
			}
		}
		if c.MaxJSONDepth < 2 || c.MaxJSONDepth > 1000 {
			t.Fatalf("max_json_depth %d accepted", c.MaxJSONDepth)
		}
	})
}

// The demo catalog is the default one with every provider sent to the mock
// provider's cluster, keyless because the mock takes no key; anything else
// drifting would make the README's demo say something the default catalog
// does not.
func TestDemoCatalogMatchesDefault(t *testing.T) {
	def, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	demo, err := LoadFile("../test/demo/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range demo.Providers {
		if demo.Providers[i].Cluster != "mock_provider" {
			t.Errorf("demo provider %s goes to cluster %s", demo.Providers[i].Name, demo.Providers[i].Cluster)
		}
		if p := demo.Providers[i]; p.APIKeyEnv != "" || p.APIKeyFile != "" {
			t.Errorf("demo provider %s names a key source; the mock takes no key", p.Name)
		}
		demo.Providers[i].Cluster = def.Providers[i].Cluster
		demo.Providers[i].APIKeyEnv, demo.Providers[i].APIKeyFile = def.Providers[i].APIKeyEnv, def.Providers[i].APIKeyFile
	}
	// The files differ in bytes, so in their digests.
	demo.Digest = def.Digest
	if !reflect.DeepEqual(def, demo) {
		t.Error("test/demo/catalog.yaml differs from config/default_catalog.yaml beyond provider clusters")
	}
}

// The reservation settings default when absent and keep what the file
// states; a key's credit is limited only when it states one, and keys of
// one account may write the same credit differently.
func TestCreditSettings(t *testing.T) {
	const tiers = "tiers:\n  - {alias: cpen/low, level: low, min_total_per_1m: \"0\", max_total_per_1m: \"1\"}\n"
	const keys = `keys:
  - {id: k1, sha256: "1111111111111111111111111111111111111111111111111111111111111111", account: a, credit_usd: "25"}
  - {id: k2, sha256: "2222222222222222222222222222222222222222222222222222222222222222", account: a, credit_usd: "25.000"}
  - {id: k3, sha256: "3333333333333333333333333333333333333333333333333333333333333333", account: b}
  - {id: k4, sha256: "4444444444444444444444444444444444444444444444444444444444444444", account: c, credit_usd: "0"}
`
	c, err := Load([]byte(tiers + keys))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ReserveOutputTokens != 4096 || c.ReserveTokensPerMediaPart != 1500 {
		t.Errorf("defaults %d, %d, want 4096, 1500", c.ReserveOutputTokens, c.ReserveTokensPerMediaPart)
	}
	wantLimited := []bool{true, true, false, true}
	wantCredit := []string{"25", "25", "0", "0"}
	for i, k := range c.Keys {
		if k.Limited != wantLimited[i] || !k.CreditUSD.Equal(decimal.RequireFromString(wantCredit[i])) {
			t.Errorf("key %s: limited %v credit %s, want %v %s", k.ID, k.Limited, k.CreditUSD, wantLimited[i], wantCredit[i])
		}
	}
	c, err = Load([]byte("reserve_output_tokens: 1\nreserve_tokens_per_media_part: 0\n" + tiers))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ReserveOutputTokens != 1 || c.ReserveTokensPerMediaPart != 0 {
		t.Errorf("settings %d, %d, want 1, 0", c.ReserveOutputTokens, c.ReserveTokensPerMediaPart)
	}
	_, err = Load([]byte("reserve_output_tokens: 10000001\n" + tiers))
	if want := "reserve_output_tokens: must lie in [1, 10000000], got 10000001"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestDigest checks that a catalog is named by its bytes: the same file
// gives the same digest, and a change of one byte another.
func TestDigest(t *testing.T) {
	data, err := os.ReadFile("../test/demo/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:])[:12]; a.Digest != want {
		t.Fatalf("digest %q, want %q", a.Digest, want)
	}
	b, err := Load(append(data, []byte("\n# another comment\n")...))
	if err != nil {
		t.Fatal(err)
	}
	if b.Digest == a.Digest || len(b.Digest) != 12 {
		t.Fatalf("digest %q after an edit, was %q", b.Digest, a.Digest)
	}
}
