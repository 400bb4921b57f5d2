package chat

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/cpen/router/extproc/internal/catalog"
)

// The request's observations: its route's metrics, and the dynamic
// metadata Envoy's access log reads. Prompts and completions are never
// part of either.

// operation is the request's gen_ai operation.
func (c *chat) operation() catalog.Operation {
	if c.extraction != nil {
		return catalog.OpExtraction
	}
	return catalog.OpChat
}

// routedMetadata names the route on the answer that sends the request to
// it, so the access log has it even when no answer comes back.
func (c *chat) routedMetadata() {
	md := c.x.Metadata()
	route := c.decision.Route
	md.SetString("route_id", route.ID)
	md.SetString("alias", c.decision.Tier.Alias)
	md.SetString("reason_code", c.decision.ReasonCode)
	md.SetString("estimated_total_usd_per_1m", route.EstimatedTotalText)
}

// refusedMetadata names the tier a refused request asked for, when the
// catalog has it (a name it lacks is the client's text: not logged).
func (c *chat) refusedMetadata() {
	if _, ok := c.v.Index.Tier(c.alias); ok {
		c.x.Metadata().SetString("alias", c.alias)
	}
}

// outcomeMetadata goes with the request's last answer: its status, usage,
// cost and the sidecar's own time on it.
func (c *chat) outcomeMetadata() {
	md := c.x.Metadata()
	md.SetString("status", statusWord(c.status))
	if c.credit.hasUsage {
		md.SetNumber("input_tokens", float64(c.credit.usage.Prompt))
		md.SetNumber("output_tokens", float64(c.credit.usage.Completion))
	}
	// The text lives in the processor's own buffer, which outlives the
	// answer: Envoy has the answer before the next request on this
	// exchange reuses it. A string copy would be the request's one
	// allocation more.
	c.bufs.cost = c.appendCost(c.bufs.cost[:0])
	cost := c.bufs.cost[1 : len(c.bufs.cost)-1]
	md.SetString("cost_usd", unsafe.String(unsafe.SliceData(cost), len(cost)))
	md.SetNumber("processing_us", float64(c.x.Processing().Microseconds()))
}

// firstChunk records a stream's time to its first answer chunk.
func (c *chat) firstChunk(now time.Time) {
	c.v.Routes[c.decision.Route.Index].FirstToken(c.operation(), now.Sub(c.start))
}

// observeEnd records a routed request's duration and usage once its
// stream has ended; incomplete when it ended before its answer did.
func (c *chat) observeEnd(now time.Time, incomplete bool) {
	rm := c.v.Routes[c.decision.Route.Index]
	op := c.operation()
	errorType := ""
	switch ps := c.credit.providerStatus; {
	case ps == 0 || incomplete:
		errorType = "incomplete"
	case ps >= 400:
		errorType = strconv.Itoa(ps)
	}
	rm.Finished(op, now.Sub(c.start), errorType)
	if c.credit.hasUsage {
		rm.Tokens(op, c.credit.usage.Prompt, c.credit.usage.Completion)
	}
}
