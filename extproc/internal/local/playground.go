package local

import (
	_ "embed"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/stream"
)

// Playground makes the processors of GET /playground.
func Playground(cfg *Config) stream.Factory { return factory(cfg, playground) }

// playgroundHTML is the page: one file with its style and script inline,
// so it needs no build step and loads nothing from elsewhere. It reads
// the route table from GET /playground/routes and chats through the guest
// endpoint.
//
//go:embed playground.html
var playgroundHTML string

// playgroundCSP lets the page reach only its own origin: it needs no
// outside asset, and anything injected could not load or send elsewhere.
const playgroundCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'"

// playground answers GET /playground: a page to try route selection as a
// guest, under the guest limit per address.
func playground(_ *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	return stream.Immediate(200, []byte(playgroundHTML), "cpen_playground",
		[][2]string{{"content-type", "text/html; charset=utf-8"}, {"content-security-policy", playgroundCSP}}), nil
}
