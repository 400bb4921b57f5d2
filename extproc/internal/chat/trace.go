package chat

import (
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/internal/tracing"
)

// traceState is what a request needs for its span: the trace context
// Envoy forwarded and when the request reached the sidecar. It is kept only
// while tracing is on; off, nothing here runs past a nil check.
type traceState struct {
	parent, state []byte
	at            time.Time
	span          *tracing.Span
}

// traceHeaders keeps the request's trace context, as Envoy forwards it.
func (c *chat) traceHeaders(h *extprocv3.HttpHeaders) {
	if c.cfg.Tracer == nil {
		return
	}
	hm := h.GetHeaders()
	c.trace.parent = stream.HeaderBytes(hm, "traceparent")
	c.trace.state = stream.HeaderBytes(hm, "tracestate")
	c.trace.at = c.cfg.Now()
}

// startSpan opens the request's span once its alias is known (empty when
// the body named none it could read).
func (c *chat) startSpan(alias string) {
	if c.cfg.Tracer == nil || c.trace.span != nil || c.trace.at.IsZero() {
		return
	}
	c.trace.span = c.cfg.Tracer.Start(c.trace.parent, c.trace.state, c.operation().String(), alias, c.trace.at)
}

// endSpan closes the request's span with what is known of its outcome.
func (c *chat) endSpan(now time.Time) {
	if c.cfg.Tracer == nil {
		return
	}
	c.startSpan("") // refused before its body was read
	sp := c.trace.span
	if c.decided {
		sp.SetRoute(c.decision.Route.ID, c.block.Strategy.String(), c.decision.ReasonCode)
		if c.credit.hasUsage {
			sp.SetUsage(c.credit.usage.Prompt, c.credit.usage.Completion)
		}
		if c.credit.costSet {
			sp.SetCost(c.costDecimal().String())
		}
	}
	if status, code, ok := c.x.Refusal(); ok {
		sp.SetRefusal(status, code)
	} else if c.status > 0 {
		sp.SetStatus(c.status)
	}
	sp.End(now)
	c.trace = traceState{}
}
