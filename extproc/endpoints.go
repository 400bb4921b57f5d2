package extproc

import (
	"github.com/cpen/router/extproc/internal/chat"
	"github.com/cpen/router/extproc/internal/local"
	"github.com/cpen/router/extproc/internal/stream"
)

// newStream builds the transport over the sidecar's endpoints. A new
// endpoint is one processor and one line in the table.
func (s *Server) newStream() *stream.Server {
	c := &chat.Config{Versions: &s.versions, Now: s.opts.now, Pins: s.opts.pins, Limiter: s.opts.limiter,
		Ledger: s.opts.ledger, Metrics: s.metrics, ReservationTTL: s.opts.reservationTTL, Tracer: s.opts.tracer, Buffers: new(chat.BigBuffers)}
	l := &local.Config{Versions: &s.versions, Now: s.opts.now, Ledger: s.opts.ledger}
	return stream.New(stream.Config{
		Log:     s.log,
		Metrics: s.metrics,
		Endpoints: stream.Endpoints{
			"/v1/chat/completions":            chat.Keyed(c),
			"/playground/v1/chat/completions": chat.Guest(c),
			"/v1/extractions":                 chat.Extraction(c),
			"/v1/status/routes":               local.Status(l),
			"/v1/billing/status":              local.Billing(l),
			"/health":                         local.Health(l),
			"/playground":                     local.Playground(l),
			"/playground/routes":              local.PlaygroundRoutes(l),
		},
		NotFound:    local.NotFound(l),
		IdleTimeout: s.opts.idleTimeout,
		OwnCodec:    s.opts.ownCodec,
	})
}
