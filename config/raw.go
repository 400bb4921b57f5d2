package config

import "go.yaml.in/yaml/v3"

// scalar keeps a YAML scalar as written, with its line, so that decimals are
// parsed exactly (never through float64) and errors can point at the file.
type scalar struct {
	Value string
	Line  int
	Set   bool
}

// UnmarshalYAML accepts quoted or plain scalars; anything else is kept unset
// and reported by validation.
func (s *scalar) UnmarshalYAML(n *yaml.Node) error {
	s.Line = n.Line
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		s.Value = ""
		s.Set = n.Kind != yaml.ScalarNode
		return nil
	}
	s.Value = n.Value
	s.Set = true
	return nil
}

// The raw* types mirror the file; Load turns them into the public types.
type rawCatalog struct {
	FeeRate      scalar            `yaml:"fee_rate"`
	InputShare   scalar            `yaml:"input_share"`
	USDRates     map[string]scalar `yaml:"usd_rates"`
	GuestRPM     *int              `yaml:"guest_rpm"`
	MaxBodyBytes *int64            `yaml:"max_body_bytes"`
	MaxJSONDepth *int              `yaml:"max_json_depth"`
	// The bounds of a credit reservation.
	ReserveOutputTokens       *int            `yaml:"reserve_output_tokens"`
	ReserveTokensPerMediaPart *int            `yaml:"reserve_tokens_per_media_part"`
	Tiers                     []rawTier       `yaml:"tiers"`
	Providers                 []rawProvider   `yaml:"providers"`
	Routes                    []rawRoute      `yaml:"routes"`
	Keys                      []rawKey        `yaml:"keys"`
	CreditPacks               []rawCreditPack `yaml:"credit_packs"`
	Checkout                  rawCheckout     `yaml:"checkout"`
}

type rawTier struct {
	Alias    scalar `yaml:"alias"`
	Level    string `yaml:"level"`
	MinTotal scalar `yaml:"min_total_per_1m"`
	MaxTotal scalar `yaml:"max_total_per_1m"`
	Status   string `yaml:"status"`
}

type rawProvider struct {
	Name       scalar  `yaml:"name"`
	Cluster    string  `yaml:"cluster"`
	Authority  string  `yaml:"authority"`
	PathPrefix string  `yaml:"path_prefix"`
	APIKeyEnv  string  `yaml:"api_key_env"`
	APIKeyFile string  `yaml:"api_key_file"`
	AuthHeader string  `yaml:"auth_header"`
	AuthScheme *string `yaml:"auth_scheme"`
}

type rawRoute struct {
	ID          scalar `yaml:"id"`
	Tier        string `yaml:"tier"`
	Provider    string `yaml:"provider"`
	Model       string `yaml:"model"`
	ModelFamily string `yaml:"model_family"`
	InputPer1M  scalar `yaml:"input_per_1m"`
	OutputPer1M scalar `yaml:"output_per_1m"`
	Currency    string `yaml:"currency"`
	RPMLimit    int    `yaml:"rpm_limit"`
	Status      string `yaml:"status"`
}

type rawKey struct {
	ID        scalar `yaml:"id"`
	SHA256    string `yaml:"sha256"`
	Account   string `yaml:"account"`
	RPMLimit  *int   `yaml:"rpm_limit"`
	CreditUSD scalar `yaml:"credit_usd"`
}

type rawCreditPack struct {
	ID         string `yaml:"id"`
	USD        scalar `yaml:"usd"`
	CreditsUSD scalar `yaml:"credits_usd"`
}

type rawCheckout struct {
	Provider   string `yaml:"provider"`
	Configured bool   `yaml:"configured"`
}
