// Package config loads, validates and compiles the price catalog, the API
// keys and the process settings the sidecar runs on.
package config

import "github.com/shopspring/decimal"

// TierStatus is the public availability of a tier.
type TierStatus string

// Tier statuses a catalog may give.
const (
	TierAvailable TierStatus = "available"
	TierPlanned   TierStatus = "planned"
	TierOutage    TierStatus = "outage"
)

// RouteStatus says whether a route may be chosen at all.
type RouteStatus string

// Route statuses a catalog may give.
const (
	RouteLive   RouteStatus = "live"
	RoutePaused RouteStatus = "paused"
)

// Catalog is a validated catalog file: prices, tiers, providers, routes, keys.
// It is immutable once Load returns it.
type Catalog struct {
	FeeRate      decimal.Decimal
	InputShare   decimal.Decimal
	USDRates     map[string]decimal.Decimal // USD value of one unit; "USD" is always 1
	GuestRPM     int
	MaxBodyBytes int64
	// MaxJSONDepth bounds the nesting of client JSON bodies (objects and
	// arrays); a deeper body is refused as malformed.
	MaxJSONDepth int
	// ReserveOutputTokens is the output bound of a credit reservation for
	// a request that states none (max_completion_tokens or max_tokens).
	ReserveOutputTokens int
	// ReserveTokensPerMediaPart is the prompt-token allowance of a credit
	// reservation per image or audio part, which the body's byte length
	// does not bound.
	ReserveTokensPerMediaPart int
	Tiers                     []Tier
	Providers                 []Provider
	Routes                    []Route
	Keys                      []Key
	CreditPacks               []CreditPack
	Checkout                  Checkout
	// Digest names this catalog's content: the first 12 hex digits of the
	// SHA-256 of the file's bytes, so replicas (and dashboards) can tell
	// which catalog each one serves.
	Digest string
	// Warnings are problems that do not stop the catalog from loading,
	// such as a route priced outside its tier's band.
	Warnings []string
}

// Tier is a public alias with its default price band.
type Tier struct {
	Alias    string // "cpen/middle"
	Level    string // "middle"; routes name their tier by level
	MinTotal decimal.Decimal
	MaxTotal decimal.Decimal
	Status   TierStatus
}

// Provider is an upstream LLM API reached through one Envoy cluster.
type Provider struct {
	Name       string
	Cluster    string
	Authority  string
	PathPrefix string
	APIKeyEnv  string
	APIKeyFile string
	AuthHeader string // lower-case; default "authorization"
	AuthScheme string // default "Bearer"; empty sends the bare key
}

// Route is one preset offer of one provider.
type Route struct {
	ID          string
	Tier        string // a tier level
	Provider    string
	Model       string
	ModelFamily string
	InputPer1M  decimal.Decimal
	OutputPer1M decimal.Decimal
	Currency    string
	RPMLimit    int // 0 = unlimited
	Status      RouteStatus
}

// Key is an API key, known only by the SHA-256 of its full value.
type Key struct {
	ID       string
	SHA256   string // lower-case hex
	Account  string
	RPMLimit int
	// CreditUSD is the account's credit when Limited; a key without
	// credit_usd is unlimited and never refused for credit.
	CreditUSD decimal.Decimal
	Limited   bool
}

// CreditPack is a credit offer shown by /v1/billing/status.
type CreditPack struct {
	ID         string
	USD        decimal.Decimal
	CreditsUSD decimal.Decimal
}

// Checkout is the state of the payment provider.
type Checkout struct {
	Provider   string
	Configured bool
}
