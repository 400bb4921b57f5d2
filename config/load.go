package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// MaxCatalogBytes bounds the catalog file; a larger one is refused unread.
const MaxCatalogBytes = 8 << 20

// Defaults applied to fields the file leaves out.
const (
	DefaultGuestRPM     = 2
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxJSONDepth = 64
	DefaultKeyRPM       = 60
	// DefaultReserveOutputTokens and DefaultReserveTokensPerMediaPart are
	// the reservation bounds of a catalog that states none.
	DefaultReserveOutputTokens       = 4096
	DefaultReserveTokensPerMediaPart = 1500
	// MaxReserveTokens bounds both reservation settings: more than any
	// model's context, small enough that a reservation stays exact.
	MaxReserveTokens = 10000000
	minJSONDepth     = 2
	maxJSONDepth     = 1000
)

// Bounds shared by the catalog and client requests.
const (
	// MaxRPM bounds every requests-per-minute figure: catalog limits, a
	// client's rpm_cap, and the limiters' windows (and so their memory).
	MaxRPM = 1000000
	// MaxPricePer1M is the largest price, in USD per 1M tokens, a catalog
	// or a client may state.
	MaxPricePer1M = 1000000
	// MaxPriceDecimals is how many fractional digits a cap or a tier's
	// band may have: the selector compares them in units of 1e-12 USD per
	// 1M tokens.
	MaxPriceDecimals = 12
)

// maxPrice is MaxPricePer1M as a decimal, built once.
var maxPrice = decimal.NewFromInt(MaxPricePer1M)

// PriceInRange reports whether d lies in [0, MaxPricePer1M].
func PriceInRange(d decimal.Decimal) bool {
	return !d.IsNegative() && !d.GreaterThan(maxPrice)
}

// Problem is one thing wrong with a catalog, located by field path and,
// where the file says, line.
type Problem struct {
	Path string
	Line int
	Msg  string
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Path, p.Msg)
}

// ErrInvalidCatalog is matched by every error Load returns for a bad file.
var ErrInvalidCatalog = errors.New("invalid catalog")

var (
	keyHexRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	headerRE   = regexp.MustCompile("^[a-z0-9!#$%&'*+.^_`|~-]+$")
)

// Load parses and validates a catalog as a whole. It reports every problem
// found at once (errors.Join of *Problem, all matching ErrInvalidCatalog).
// It is pure: secrets are resolved later, by ResolveSecrets.
func Load(data []byte) (*Catalog, error) {
	if len(data) > MaxCatalogBytes {
		return nil, fmt.Errorf("%w: file is %d bytes, over the %d-byte limit", ErrInvalidCatalog, len(data), MaxCatalogBytes)
	}
	var raw rawCatalog
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCatalog, err)
	}
	if err := singleDocument(dec); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCatalog, err)
	}
	v := validator{}
	cat := v.catalog(&raw)
	if len(v.problems) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidCatalog, errors.Join(v.problems...))
	}
	cat.Digest = digest(data)
	return cat, nil
}

// singleDocument checks that the decoder has nothing left but empty
// documents: a catalog is one document, and whatever followed a `---` would
// otherwise be dropped without a word.
func singleDocument(dec *yaml.Decoder) error {
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" && doc.Content[0].Value == "" {
			continue
		}
		return fmt.Errorf("line %d: a second YAML document; a catalog is one document", doc.Line)
	}
}

type validator struct {
	problems []error
	warnings []string
}

func (v *validator) fail(path string, line int, format string, args ...any) {
	v.problems = append(v.problems, &Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// price parses a non-negative decimal within the contract's range.
func (v *validator) price(path string, s scalar, def string, required bool) decimal.Decimal {
	if !s.Set || s.Value == "" {
		if required {
			v.fail(path, s.Line, "is required")
		}
		return decimal.RequireFromString(def)
	}
	d, err := decimal.NewFromString(s.Value)
	if err != nil {
		v.fail(path, s.Line, "%q is not a decimal", s.Value)
		return decimal.Zero
	}
	if d.IsNegative() {
		v.fail(path, s.Line, "must not be negative, got %s", s.Value)
	} else if d.GreaterThan(maxPrice) {
		v.fail(path, s.Line, "must be at most %d, got %s", MaxPricePer1M, s.Value)
	}
	return d
}

// bandPrice is price for a bound of a tier's band, which caps are
// compared with: it has at most MaxPriceDecimals fractional digits,
// trailing zeros aside.
func (v *validator) bandPrice(path string, s scalar) decimal.Decimal {
	d := v.price(path, s, "0", true)
	if !d.Truncate(MaxPriceDecimals).Equal(d) {
		v.fail(path, s.Line, "must have at most %d fractional digits, got %s", MaxPriceDecimals, s.Value)
	}
	return d
}

func (v *validator) catalog(raw *rawCatalog) *Catalog {
	c := &Catalog{
		FeeRate:                   v.price("fee_rate", raw.FeeRate, "0", false),
		InputShare:                v.price("input_share", raw.InputShare, "0.3", false),
		USDRates:                  map[string]decimal.Decimal{"USD": decimal.NewFromInt(1)},
		GuestRPM:                  DefaultGuestRPM,
		MaxBodyBytes:              DefaultMaxBodyBytes,
		MaxJSONDepth:              DefaultMaxJSONDepth,
		ReserveOutputTokens:       DefaultReserveOutputTokens,
		ReserveTokensPerMediaPart: DefaultReserveTokensPerMediaPart,
		Checkout:                  Checkout{Provider: raw.Checkout.Provider, Configured: raw.Checkout.Configured},
	}
	if c.InputShare.GreaterThan(decimal.NewFromInt(1)) {
		v.fail("input_share", raw.InputShare.Line, "must lie in [0, 1], got %s", raw.InputShare.Value)
	}
	for cur, s := range raw.USDRates {
		path := "usd_rates." + cur
		if !currencyRE.MatchString(cur) {
			v.fail(path, s.Line, "currency must be a 3-letter upper-case code")
		}
		r := v.price(path, s, "0", true)
		if !r.IsPositive() {
			v.fail(path, s.Line, "rate must be greater than 0")
		}
		if cur == "USD" && !r.Equal(decimal.NewFromInt(1)) {
			v.fail(path, s.Line, "the USD rate is 1 by definition")
		}
		c.USDRates[cur] = r
	}
	if raw.GuestRPM != nil {
		c.GuestRPM = *raw.GuestRPM
		if c.GuestRPM < 1 || c.GuestRPM > MaxRPM {
			v.fail("guest_rpm", 0, "must lie in [1, %d], got %d", MaxRPM, c.GuestRPM)
		}
	}
	if raw.MaxBodyBytes != nil {
		c.MaxBodyBytes = *raw.MaxBodyBytes
		if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
			v.fail("max_body_bytes", 0, "must lie in [1024, %d], got %d", 64<<20, c.MaxBodyBytes)
		}
	}
	if raw.MaxJSONDepth != nil {
		c.MaxJSONDepth = *raw.MaxJSONDepth
		if c.MaxJSONDepth < minJSONDepth || c.MaxJSONDepth > maxJSONDepth {
			v.fail("max_json_depth", 0, "must lie in [%d, %d], got %d", minJSONDepth, maxJSONDepth, c.MaxJSONDepth)
		}
	}
	if raw.ReserveOutputTokens != nil {
		c.ReserveOutputTokens = *raw.ReserveOutputTokens
		if c.ReserveOutputTokens < 1 || c.ReserveOutputTokens > MaxReserveTokens {
			v.fail("reserve_output_tokens", 0, "must lie in [1, %d], got %d", MaxReserveTokens, c.ReserveOutputTokens)
		}
	}
	if raw.ReserveTokensPerMediaPart != nil {
		c.ReserveTokensPerMediaPart = *raw.ReserveTokensPerMediaPart
		if c.ReserveTokensPerMediaPart < 0 || c.ReserveTokensPerMediaPart > MaxReserveTokens {
			v.fail("reserve_tokens_per_media_part", 0, "must lie in [0, %d], got %d", MaxReserveTokens, c.ReserveTokensPerMediaPart)
		}
	}
	levels := v.tiers(c, raw.Tiers)
	providers := v.providers(c, raw.Providers)
	v.routes(c, raw.Routes, levels, providers)
	v.keys(c, raw.Keys)
	v.packs(c, raw.CreditPacks)
	if len(c.Tiers) == 0 {
		v.fail("tiers", 0, "at least one tier is required")
	}
	c.Warnings = v.warnings
	return c
}

func (v *validator) tiers(c *Catalog, raw []rawTier) map[string]*Tier {
	levels := make(map[string]*Tier, len(raw))
	aliases := make(map[string]bool, len(raw))
	for i, t := range raw {
		path := fmt.Sprintf("tiers[%d]", i)
		line := t.Alias.Line
		tier := Tier{
			Alias:    t.Alias.Value,
			Level:    t.Level,
			MinTotal: v.bandPrice(path+".min_total_per_1m", t.MinTotal),
			MaxTotal: v.bandPrice(path+".max_total_per_1m", t.MaxTotal),
			Status:   TierStatus(t.Status),
		}
		if tier.Status == "" {
			tier.Status = TierAvailable
		}
		switch {
		case tier.Alias == "":
			v.fail(path+".alias", line, "is required")
		case aliases[tier.Alias]:
			v.fail(path+".alias", line, "duplicate alias %q", tier.Alias)
		}
		aliases[tier.Alias] = true
		switch {
		case tier.Level == "":
			v.fail(path+".level", line, "is required")
		case levels[tier.Level] != nil:
			v.fail(path+".level", line, "duplicate level %q", tier.Level)
		}
		if tier.MinTotal.GreaterThan(tier.MaxTotal) {
			v.fail(path, line, "min_total_per_1m %s is above max_total_per_1m %s", tier.MinTotal, tier.MaxTotal)
		}
		switch tier.Status {
		case TierAvailable, TierPlanned, TierOutage:
		default:
			v.fail(path+".status", line, "must be available, planned or outage, got %q", t.Status)
		}
		c.Tiers = append(c.Tiers, tier)
		levels[tier.Level] = &c.Tiers[len(c.Tiers)-1]
	}
	// Pointers into c.Tiers stay valid: the slice is not appended to again.
	for i := range c.Tiers {
		levels[c.Tiers[i].Level] = &c.Tiers[i]
	}
	return levels
}

func (v *validator) providers(c *Catalog, raw []rawProvider) map[string]bool {
	names := make(map[string]bool, len(raw))
	for i, p := range raw {
		path := fmt.Sprintf("providers[%d]", i)
		line := p.Name.Line
		prov := Provider{
			Name:       p.Name.Value,
			Cluster:    p.Cluster,
			Authority:  p.Authority,
			PathPrefix: strings.TrimSuffix(p.PathPrefix, "/"),
			APIKeyEnv:  p.APIKeyEnv,
			APIKeyFile: p.APIKeyFile,
			AuthHeader: strings.ToLower(p.AuthHeader),
			AuthScheme: "Bearer",
		}
		if prov.AuthHeader == "" {
			prov.AuthHeader = "authorization"
		}
		if p.AuthScheme != nil {
			prov.AuthScheme = *p.AuthScheme
		}
		switch {
		case prov.Name == "":
			v.fail(path+".name", line, "is required")
		case names[prov.Name]:
			v.fail(path+".name", line, "duplicate provider %q", prov.Name)
		}
		names[prov.Name] = true
		if prov.Cluster == "" {
			v.fail(path+".cluster", line, "is required (the Envoy cluster name)")
		}
		if p.PathPrefix != "" && !strings.HasPrefix(p.PathPrefix, "/") {
			v.fail(path+".path_prefix", line, "must start with /, got %q", p.PathPrefix)
		}
		if !headerRE.MatchString(prov.AuthHeader) || strings.HasPrefix(prov.AuthHeader, "x-envoy-") || prov.AuthHeader == "host" {
			v.fail(path+".auth_header", line, "%q is not a header Envoy lets the sidecar set", p.AuthHeader)
		}
		if strings.ContainsAny(prov.AuthScheme, " \t\r\n") {
			v.fail(path+".auth_scheme", line, "must be one token, got %q", prov.AuthScheme)
		}
		if prov.APIKeyEnv != "" && prov.APIKeyFile != "" {
			v.fail(path, line, "set api_key_env or api_key_file, not both")
		}
		c.Providers = append(c.Providers, prov)
	}
	return names
}

func (v *validator) routes(c *Catalog, raw []rawRoute, levels map[string]*Tier, providers map[string]bool) {
	ids := make(map[string]bool, len(raw))
	for i, r := range raw {
		path := fmt.Sprintf("routes[%d]", i)
		line := r.ID.Line
		route := Route{
			ID:          r.ID.Value,
			Tier:        r.Tier,
			Provider:    r.Provider,
			Model:       r.Model,
			ModelFamily: r.ModelFamily,
			InputPer1M:  v.price(path+".input_per_1m", r.InputPer1M, "0", true),
			OutputPer1M: v.price(path+".output_per_1m", r.OutputPer1M, "0", true),
			Currency:    r.Currency,
			RPMLimit:    r.RPMLimit,
			Status:      RouteStatus(r.Status),
		}
		if route.Currency == "" {
			route.Currency = "USD"
		}
		if route.Status == "" {
			route.Status = RouteLive
		}
		if route.ModelFamily == "" {
			route.ModelFamily = route.Model
		}
		switch {
		case route.ID == "":
			v.fail(path+".id", line, "is required")
		case ids[route.ID]:
			v.fail(path+".id", line, "duplicate route id %q", route.ID)
		}
		ids[route.ID] = true
		tier := levels[route.Tier]
		if tier == nil {
			v.fail(path+".tier", line, "names no tier level %q", route.Tier)
		}
		if !providers[route.Provider] {
			v.fail(path+".provider", line, "names no provider %q", route.Provider)
		}
		if route.Model == "" {
			v.fail(path+".model", line, "is required")
		}
		rate, ok := c.USDRates[route.Currency]
		if !ok {
			v.fail(path+".currency", line, "%q has no rate in usd_rates", route.Currency)
		}
		if route.RPMLimit < 0 || route.RPMLimit > MaxRPM {
			v.fail(path+".rpm_limit", line, "must lie in [0, %d], got %d", MaxRPM, route.RPMLimit)
		}
		switch route.Status {
		case RouteLive, RoutePaused:
		default:
			v.fail(path+".status", line, "must be live or paused, got %q", r.Status)
		}
		if tier != nil && ok {
			total := route.InputPer1M.Add(route.OutputPer1M).Mul(rate).Mul(decimal.NewFromInt(1).Add(c.FeeRate))
			if total.LessThan(tier.MinTotal) || total.GreaterThan(tier.MaxTotal) {
				v.warnings = append(v.warnings, fmt.Sprintf("route %s: visible total %s USD per 1M lies outside the %s band [%s, %s]",
					route.ID, total, tier.Alias, tier.MinTotal, tier.MaxTotal))
			}
		}
		c.Routes = append(c.Routes, route)
	}
}

func (v *validator) keys(c *Catalog, raw []rawKey) {
	ids := make(map[string]bool, len(raw))
	hashes := make(map[string]bool, len(raw))
	accounts := make(map[string]Key, len(raw))
	for i, k := range raw {
		path := fmt.Sprintf("keys[%d]", i)
		line := k.ID.Line
		key := Key{
			ID:        k.ID.Value,
			SHA256:    strings.ToLower(k.SHA256),
			Account:   k.Account,
			RPMLimit:  DefaultKeyRPM,
			CreditUSD: v.price(path+".credit_usd", k.CreditUSD, "0", false),
			Limited:   k.CreditUSD.Set && k.CreditUSD.Value != "",
		}
		if k.RPMLimit != nil {
			key.RPMLimit = *k.RPMLimit
		}
		switch {
		case key.ID == "":
			v.fail(path+".id", line, "is required")
		case ids[key.ID]:
			v.fail(path+".id", line, "duplicate key id %q", key.ID)
		}
		ids[key.ID] = true
		switch {
		case !keyHexRE.MatchString(key.SHA256):
			v.fail(path+".sha256", line, "must be 64 hex digits (SHA-256 of the full key)")
		case hashes[key.SHA256]:
			v.fail(path+".sha256", line, "duplicate key hash")
		}
		hashes[key.SHA256] = true
		if key.RPMLimit < 1 || key.RPMLimit > MaxRPM {
			v.fail(path+".rpm_limit", line, "must lie in [1, %d], got %d", MaxRPM, key.RPMLimit)
		}
		creditLine := k.CreditUSD.Line
		if creditLine == 0 {
			creditLine = line
		}
		v.sameCredit(key, creditLine, path, accounts)
		c.Keys = append(c.Keys, key)
	}
}

// sameCredit refuses a key whose credit differs from that of an earlier
// key of its account: the credit is the account's, one balance for all
// its keys, so two values would leave it undefined.
func (v *validator) sameCredit(k Key, line int, path string, accounts map[string]Key) {
	if k.Account == "" {
		return
	}
	first, ok := accounts[k.Account]
	if !ok {
		accounts[k.Account] = k
		return
	}
	if first.Limited == k.Limited && first.CreditUSD.Equal(k.CreditUSD) {
		return
	}
	v.fail(path+".credit_usd", line, "account %q has credit_usd %s on key %q but %s here: keys of one account must agree",
		k.Account, creditText(first), first.ID, creditText(k))
}

func creditText(k Key) string {
	if !k.Limited {
		return "unset (unlimited)"
	}
	return fmt.Sprintf("%q", k.CreditUSD.String())
}

func (v *validator) packs(c *Catalog, raw []rawCreditPack) {
	ids := make(map[string]bool, len(raw))
	for i, p := range raw {
		path := fmt.Sprintf("credit_packs[%d]", i)
		pack := CreditPack{
			ID:         p.ID,
			USD:        v.price(path+".usd", p.USD, "0", true),
			CreditsUSD: v.price(path+".credits_usd", p.CreditsUSD, "0", true),
		}
		if pack.ID == "" || ids[pack.ID] {
			v.fail(path+".id", p.USD.Line, "must be present and unique, got %q", pack.ID)
		}
		ids[pack.ID] = true
		c.CreditPacks = append(c.CreditPacks, pack)
	}
}
