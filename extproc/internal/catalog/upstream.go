package catalog

import "github.com/cpen/router/config"

// ChatPath is the chat endpoint's path after /v1, appended to a
// provider's prefix.
const ChatPath = "/chat/completions"

// Upstream is a provider as the request path needs it.
type Upstream struct {
	Name       string
	Cluster    string
	ChatPath   string // the provider's prefix + ChatPath, built once
	AuthHeader string
	AuthValue  string // scheme and key, ready to send; never logged
}

// newUpstream is p with its key (empty: none).
func newUpstream(p config.Provider, secret string) *Upstream {
	auth := secret
	if p.AuthScheme != "" && auth != "" {
		auth = p.AuthScheme + " " + auth
	}
	return &Upstream{
		Name: p.Name, Cluster: p.Cluster, ChatPath: p.PathPrefix + ChatPath,
		AuthHeader: p.AuthHeader, AuthValue: auth,
	}
}
