package chat

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"

	"github.com/cpen/router/extproc/credit"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// providerHeaderPrefixes name response headers that would tell the client
// which provider served it; they are dropped. x-envoy-* is not among them:
// Envoy's default mutation rules refuse any change to those headers, so a
// removal would only count as a rejected mutation on every request. Envoy's
// own are kept off by the router's suppress_envoy_headers; one a provider
// sends is for the route's response_headers_to_remove.
var providerHeaderPrefixes = [...]string{"openai-", "anthropic-", "x-goog-", "mistral-", "x-ratelimit-", "x-amzn-", "cf-"}

// isProviderHeader reports whether a response header names the provider's
// software or hosts, or is one of a provider's own (by prefix).
func isProviderHeader(k string) bool {
	switch k {
	case "server", "via", "x-powered-by", "x-request-id", "x-served-by", "alt-svc", "set-cookie":
		return true
	}
	for _, p := range providerHeaderPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// ResponseHeaders names the route and the outcome to the client, drops
// the headers that would name the provider, and switches a stream to
// STREAMED.
func (c *chat) ResponseHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	rp := c.x.Replies()
	if !c.decided {
		return rp.ResponseHeaders(nil), nil
	}
	hm := h.GetHeaders()
	c.status = atoi(stream.HeaderBytes(hm, ":status"))
	c.credit.providerStatus = c.status
	if c.status == 429 || c.status == 503 {
		c.retryAfter = parseRetryAfter(stream.HeaderBytes(hm, "retry-after"), c.cfg.Now())
	}
	ctype := stream.HeaderBytes(hm, "content-type")
	enc := string(stream.HeaderBytes(hm, "content-encoding"))
	plain := enc == "" || enc == "identity"
	isJSON := bytes.HasPrefix(ctype, []byte("application/json"))
	isSSE := bytes.HasPrefix(ctype, []byte("text/event-stream"))
	c.rewrite = plain && (isJSON || isSSE)
	// Error bodies name the provider's model and often the provider; the
	// ones we can read are scrubbed, whatever their content type.
	c.scrub = plain && c.status >= 400

	mu := rp.Mutation(stream.AnswerResponseHeaders)
	c.dropProviderHeaders(&mu, hm)
	mu.Set("x-cpen-route-id", c.decision.Route.ID)
	mu.Set("x-cpen-status", statusWord(c.status))
	// A successful stream goes STREAMED even when it cannot be rewritten
	// (compressed, or not an event stream): held BUFFERED, Envoy would keep
	// the whole stream until it ends and fail it above its buffer limit. A
	// plain JSON answer to a stream request is one object, kept buffered and
	// rewritten as usual. The length changes or is unknown, so
	// content-length goes now: a mode switch comes too late for Envoy to
	// drop it.
	c.switched = c.stream && c.status == 200 && !(plain && isJSON)
	c.streaming = c.switched && plain && isSSE
	// A large JSON answer is edited as it passes instead (not an
	// extraction's, which is checked whole against its schema).
	length, large := 0, false
	if plain && isJSON && c.status < 400 && c.extraction == nil {
		length, large = streamsObject(stream.HeaderBytes(hm, "content-length"))
	}
	c.objectStreamed = large
	if c.objectStreamed {
		c.switched = true
		c.object.Reset((*objectEdit)(c), length)
	}
	if c.switched {
		mu.Remove("content-length")
	}
	mu.SetRateLimit(rateLimit(c.adm))
	if h.GetEndOfStream() {
		c.settle()
	}
	resp := rp.ResponseHeaders(rp.Common(stream.AnswerResponseHeaders, mu))
	if c.switched {
		rp.StreamResponseBody(resp)
	}
	return resp, nil
}

// dropProviderHeaders removes the response headers that would tell the
// client which provider or upstream model served it.
func (c *chat) dropProviderHeaders(mu *stream.Mutation, hm *corev3.HeaderMap) {
	route := c.decision.Route
	name := c.upstream.Name
	for _, hv := range hm.GetHeaders() {
		k := hv.GetKey()
		// Pseudo-headers and x-envoy-* cannot be removed under Envoy's
		// default mutation rules (see providerHeaderPrefixes).
		if k == "" || k[0] == ':' || strings.HasPrefix(k, "x-envoy") {
			continue
		}
		v := hv.GetRawValue()
		if isProviderHeader(k) || (route.Model != "" && bytes.Contains(v, []byte(route.Model))) ||
			(len(name) >= minScrubbedName && indexFold(v, name) >= 0) {
			mu.Remove(k)
		}
	}
}

// wholeBody reports whether a response body message ends the body. Unless
// the answer was switched to STREAMED, Envoy sends the whole body in one
// message, with end_of_stream false when trailers follow it.
func (c *chatState) wholeBody(b *extprocv3.HttpBody) bool {
	return b.GetEndOfStream() || !c.switched
}

func statusWord(status int) string {
	if status >= 400 {
		return "failed"
	}
	return "completed"
}

// ResponseBody rewrites the provider's answer: the alias for its model,
// cpen_status and cpen_route added, an error scrubbed of the provider.
func (c *chat) ResponseBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	rp := c.x.Replies()
	body, eos := b.GetBody(), b.GetEndOfStream()
	final := c.wholeBody(b)
	if !c.decided {
		return rp.ResponseBody(nil), nil
	}
	c.bodyMsgs++
	if c.credit.res.Reserved {
		c.renew(c.cfg.Now())
	}
	if c.streaming && c.bodyMsgs == 1 {
		c.firstChunk(c.cfg.Now())
	}
	var out []byte
	switch {
	case c.streaming:
		// Every chunk is answered with exactly the bytes to forward; an
		// empty body holds an incomplete event back.
		c.bufs.resp.b = c.streamChunk(c.bufs.resp.b[:0], body, eos)
		out = c.bufs.resp.b
		if out == nil {
			out = []byte{}
		}
	case c.objectStreamed:
		out = c.editObjectChunk(body, eos)
	case c.switched:
		// A stream we cannot read passes as it is.
	case c.scrub:
		out = c.scrubError(body)
	case c.rewrite:
		out = c.rewriteJSON(body, statusWord(c.status))
	}
	if final {
		c.settle()
	}
	if out == nil {
		return rp.ResponseBody(nil), nil
	}
	mu := rp.Mutation(stream.AnswerResponseBody)
	if !c.switched || (eos && c.bodyMsgs == 1) {
		// A buffered body: its length is checked against ours. (When a
		// switched answer came whole in one message, Envoy may not have
		// honoured the switch.)
		mu.SetInt("content-length", len(out))
	}
	cr := rp.Common(stream.AnswerResponseBody, mu)
	rp.WithBody(stream.AnswerResponseBody, cr, out)
	return rp.ResponseBody(cr), nil
}

// rewriteJSON restores the alias in "model" and adds cpen_status and
// cpen_route to a JSON object body; nil leaves the body as it is.
func (c *chat) rewriteJSON(body []byte, status string) []byte {
	if !c.shape(body) {
		return nil
	}
	c.bufs.resp.b = c.bufs.resp.b[:0]
	c.bufs.resp.b = c.patchObject(c.cfg.Buffers.room(&c.bufs.resp, len(body)+len(c.aliasJSON)+len(c.routeJSON)+96), body, true, true, status)
	return c.bufs.resp.b
}

// shape checks that obj is an object patchObject can edit (see
// jsonbody.ShapeMembers), keeping its members for the patch that follows.
func (c *chat) shape(obj []byte) bool {
	var ok bool
	c.shaped, ok = jsonbody.ShapeMembers(obj, c.members[:0])
	c.shapedOf = obj
	return ok
}

// members are obj's top-level members: those shape kept when it checked
// this very obj, else a new walk.
func (c *chat) objectMembers(obj []byte) []jsonbody.Member {
	if len(obj) > 0 && len(c.shapedOf) == len(obj) && &c.shapedOf[0] == &obj[0] {
		return c.shaped
	}
	c.shaped = c.shaped[:0]
	for it := jsonbody.Members(obj); it.Next(); {
		c.shaped = append(c.shaped, it.M)
	}
	c.shapedOf = obj
	return c.shaped
}

// patchObject edits one JSON object (shape checked): every top-level
// "model" (and case variant, which some client parsers accept) → alias,
// and the cpen fields asked for. It appends the result to dst in one pass.
func (c *chat) patchObject(dst, obj []byte, withRoute, withStatus bool, status string) []byte {
	dst = slices.Grow(dst, len(obj)+len(c.aliasJSON)+len(c.routeJSON)+96)
	at := 0
	members := c.objectMembers(obj)
	for i := range members {
		m := &members[i]
		if isModelKey(m) {
			dst = append(dst, obj[at:m.ValStart]...)
			dst = append(dst, c.aliasJSON...)
			at = m.ValEnd
		} else if withStatus && m.KeyIs("usage") {
			// The receipt goes with cpen_status: the answer's usage
			// prices it.
			if u, ok := credit.UsageValue(m.Value(obj)); ok {
				c.credit.usage, c.credit.hasUsage = u, true
			}
		}
	}
	has := len(members) > 0
	closing := bytes.LastIndexByte(obj, '}')
	dst = append(dst, obj[at:closing]...)
	dst = c.appendFields(dst, has, withRoute, withStatus, status)
	return append(dst, obj[closing:]...)
}

// appendFields appends the cpen members asked for, led by a comma when the
// object has members before them (sep).
func (c *chat) appendFields(dst []byte, sep, withRoute, withStatus bool, status string) []byte {
	if withStatus {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"cpen_status":"`...)
		dst = append(dst, status...)
		dst = append(dst, `","cpen_cost_usd":`...)
		dst = c.appendCost(dst)
		sep = true
	}
	if withRoute {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"cpen_route":`...)
		dst = append(dst, c.routeJSON...)
	}
	return dst
}

// isModelKey reports whether a member's key is "model" or a case variant
// of it (Go's encoding/json, for one, would read "Model" as model).
func isModelKey(m *jsonbody.Member) bool {
	if !m.Escaped {
		// Folding keeps a key within three bytes a letter ("K" is three).
		return len(m.Key) >= len("model") && len(m.Key) <= 3*len("model") && bytes.EqualFold(m.Key, []byte("model"))
	}
	return strings.EqualFold(m.KeyString(), "model")
}

// settle records the outcome once: route health, and the continuity pin
// on success.
func (c *chat) settle() {
	x := c.x
	if !c.decided || c.settled {
		return
	}
	c.settled = true
	now := c.cfg.Now()
	route := c.decision.Route
	if c.status > 0 {
		// The answer this settles goes out with the outcome.
		c.outcomeMetadata()
		// A stream that ended with no answer (the client hung up, Envoy
		// reset it) says nothing about the route: counting it would let
		// any client eject a tier by hanging up.
		failed := c.status >= 500 || c.status == 429
		var tr state.Transition
		if failed {
			tr = c.v.Health.ObserveFailure(route.Index, now.Sub(c.start), c.retryAfter, now)
		} else {
			tr = c.v.Health.Observe(route.Index, now.Sub(c.start), false, now)
		}
		switch tr {
		case state.Ejected:
			x.Log().Info("route ejected", zap.String("route_id", route.ID), zap.String("alias", c.decision.Tier.Alias),
				zap.String("cause", fmt.Sprintf("upstream failure with status %d", c.status)),
				zap.String("ejected_for", c.v.Health.DownUntil(route.Index).Sub(now).String()))
		case state.Recovered:
			x.Log().Info("route recovered", zap.String("route_id", route.ID), zap.String("alias", c.decision.Tier.Alias),
				zap.String("cause", fmt.Sprintf("a success (status %d) after its ejection", c.status)))
		}
	}
	if c.decision.SetsPin && c.status > 0 && c.status < 400 {
		c.cfg.Pins.Set(x.Context(), c.key.ID, c.decision.Tier.Alias, selector.Pin{
			RouteID: route.ID, ModelFamily: route.ModelFamily, VisibleTotal: route.VisibleTotal,
		}, now)
	}
	c.v.Routes[route.Index].Served(c.status)
	// Envoy's access log has the request; this line is for debugging.
	if ce := x.Log().Check(zap.DebugLevel, "request served"); ce != nil {
		ce.Write(zap.ByteString("request_id", x.RequestID()), zap.String("key_id", c.key.ID), zap.String("route_id", route.ID),
			zap.Int("status", c.status), zap.String("reason_code", c.decision.ReasonCode), zap.Duration("duration", now.Sub(c.start)))
	}
}

// Finish settles a request whose stream ended before its response did,
// and parks the processor for the next request on the exchange.
func (c *chat) Finish() {
	incomplete := c.decided && !c.settled
	if incomplete {
		// The stream ended before the response did (client gone, upstream
		// reset): no health verdict, and never move the pin.
		c.status = 0
		c.settle()
	}
	now := c.cfg.Now()
	if c.decided {
		c.settleCredit(now)
		c.observeEnd(now, incomplete)
	}
	c.endSpan(now)
	c.park()
}

// parseRetryAfter reads a Retry-After value: delay seconds, or an HTTP
// date taken against now. Anything else, and a date already past, is 0.
func parseRetryAfter(v []byte, now time.Time) time.Duration {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		// atoi refuses what is not all digits, and caps the value well
		// above any bound health applies.
		return time.Duration(atoi(v)) * time.Second
	}
	t, err := http.ParseTime(string(v))
	if err != nil || !t.After(now) {
		return 0
	}
	return t.Sub(now)
}

// atoi parses a small non-negative decimal such as a :status; 0 if malformed.
func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' || n > 1e6 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
