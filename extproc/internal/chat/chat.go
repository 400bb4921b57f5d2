// Package chat is the processor of chat completions, keyed or guest, and
// of extractions: it authenticates the request, picks a route under the
// caller's caps, rewrites what the provider sees and adds the route to
// what the caller gets back, streamed or whole.
package chat

import (
	"errors"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/credit"
	"github.com/cpen/router/extproc/extract"
	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/routing"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// clientCredentialHeaders are the request headers that carry a client's
// secret in the ways clients and SDKs send one; all are removed before a
// request goes to a provider.
var clientCredentialHeaders = [...]string{"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"}

// chatState is what a chat request carries from its request to its response.
type chatState struct {
	key       *config.Key
	block     routing.Block
	decision  selector.Decision
	decided   bool
	upstream  *catalog.Upstream
	adm       state.Admission
	rpmLimit  int
	start     time.Time
	status    int
	stream    bool
	rewrite   bool   // the response body is JSON or SSE we may edit
	scrub     bool   // an error body we can read, scrubbed of the provider
	switched  bool   // the response body was switched to STREAMED
	guestAddr string // the playground's client address; empty for keys
	streaming bool   // the response is an event stream, rewritten per chunk
	// objectStreamed: a large JSON answer, switched to STREAMED and edited
	// chunk by chunk through object.
	objectStreamed bool
	object         jsonbody.Stream
	bodyMsgs       int // response body messages seen
	sse            sseState
	// extraction is the parsed /v1/extractions request; nil for chat.
	extraction *extract.Request
	routeJSON  []byte // the cpen_route object, built once per request
	aliasJSON  []byte // the alias as a JSON string
	settled    bool
	// retryAfter is the wait a provider's 429 or 503 asked for (0: none).
	retryAfter time.Duration
	credit     creditState
	trace      traceState
	// alias is the tier alias the body asked for, once read.
	alias string
}

// chat is the processor of one POST /v1/chat/completions request, or of
// one guest playground chat, which has no key and a per-address limit. It
// is bound to its request's exchange and recycled with it.
type chat struct {
	x     *stream.Exchange
	cfg   *Config
	v     *catalog.Version // read once, at the request headers; nil before the first
	guest bool
	bufs  buffers
	// members holds the top-level members of the usual request body,
	// then of the answer's objects, kept with the parked processor.
	members [16]jsonbody.Member
	// shaped are the members of shapedOf, the object shape last checked.
	shaped   []jsonbody.Member
	shapedOf []byte
	chatState
}

// RequestHeaders authenticates the request: its key, or for a guest its
// address.
func (c *chat) RequestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	resp, err := c.requestHeaders(h)
	return resp, refuse(err)
}

func (c *chat) requestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	x := c.x
	c.traceHeaders(h)
	if c.v == nil {
		return nil, stream.ErrNotReady
	}
	var key *config.Key
	if c.guest {
		// Guests share one limit per client address, as Envoy saw it.
		addr, ok := clientAddr(x.Attributes())
		if !ok {
			return nil, errClientAddressUnknown
		}
		key = &config.Key{ID: "guest:" + addr, RPMLimit: c.v.Catalog.GuestRPM}
		c.guestAddr = addr
	} else {
		// Two authorization headers would leave it open which key pays:
		// refused, as a missing one is.
		if countHeader(h, "authorization") > 1 {
			return nil, stream.ErrUnauthorized
		}
		k, ok := c.v.Authenticate(stream.HeaderBytes(h.GetHeaders(), "authorization"))
		if !ok {
			return nil, stream.ErrUnauthorized
		}
		key = k
	}
	if string(stream.HeaderBytes(h.GetHeaders(), ":method")) != "POST" {
		return nil, stream.ErrMethod
	}
	if h.GetEndOfStream() {
		return nil, stream.ErrEmptyBody
	}
	c.key = key
	return x.Replies().RequestHeaders(c.dropClientRouting(h)), nil
}

// dropClientRouting removes every client-sent x-cpen-* header, so that
// only the sidecar's own routing decision reaches Envoy's route.
func (c *chat) dropClientRouting(h *extprocv3.HttpHeaders) *extprocv3.CommonResponse {
	rp := c.x.Replies()
	var mu stream.Mutation
	started := false
	for _, hv := range h.GetHeaders().GetHeaders() {
		if strings.HasPrefix(hv.GetKey(), "x-cpen-") {
			if !started {
				mu, started = rp.Mutation(stream.AnswerRequestHeaders), true
			}
			mu.Remove(hv.GetKey())
		}
	}
	if !started {
		return nil
	}
	return rp.Common(stream.AnswerRequestHeaders, mu)
}

// RequestBody parses the body, picks the route and sends the request to
// its provider.
func (c *chat) RequestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	resp, err := c.requestBody(b)
	if err != nil {
		c.refusedMetadata()
	}
	return resp, refuse(err)
}

func (c *chat) requestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	body := b.GetBody()
	var cb chatBody
	if err := parseChatBody(body, c.v.MaxDepth, &cb, c.members[:0]); err != nil {
		return nil, err
	}
	if c.cfg.Tracer != nil {
		c.startSpan(c.aliasOf(cb.alias))
	}
	if cb.hasRouting {
		var err error
		if c.block, err = routing.Parse(cb.routing.Value(body)); err != nil {
			return nil, err
		}
	}
	c.stream = cb.hasStream && string(cb.stream.Value(body)) == "true"
	c.credit.bound = credit.OfMembers(body, cb.members, c.reserveSettings())
	if err := c.decide(cb.alias); err != nil {
		return nil, err
	}
	return c.dispatch(body, &cb), nil
}

// decide selects a route and takes an RPM slot. When several refusals
// apply, the first of 400 (unknown alias), 503, 429, 402 wins (README,
// Errors).
func (c *chat) decide(aliasBytes []byte) error {
	x := c.x
	alias := c.aliasOf(aliasBytes)
	c.alias = alias
	now := c.cfg.Now()
	c.start = now
	c.rpmLimit = c.block.EffectiveRPM(c.key.RPMLimit)
	req := selector.Request{
		Alias:                   alias,
		MaxInput:                c.block.MaxInput,
		MaxOutput:               c.block.MaxOutput,
		MaxTotal:                c.block.MaxTotal,
		MinTotal:                c.block.MinTotal,
		Strategy:                c.block.Strategy,
		Mode:                    c.block.Mode,
		AllowTemporaryHighPrice: c.block.AllowTemporaryHighPrice,
		Spread:                  maphash.Comparable(maphash.MakeSeed(), now.UnixNano()),
	}
	var pin selector.Pin
	if c.block.Strategy == selector.StrategyContinuity {
		if p, ok := c.cfg.Pins.Get(x.Context(), c.key.ID, alias, now); ok {
			pin = p
			req.Pin = &pin
		}
	}
	c.v.Health.Advance(now)
	err := c.v.Index.Select(&req, c.v.Health, &c.decision)
	if errors.Is(err, selector.ErrNoRouteUnderCap) {
		// 429 wins over 402, and a 402 takes no slot.
		if a := c.cfg.Limiter.Peek(x.Context(), c.key.ID, c.rpmLimit, now); a.Unavailable {
			return errSharedState
		} else if !a.Allowed {
			return c.rateLimited(a)
		}
		return err
	}
	if err != nil {
		return err
	}
	if err := c.admit(now); err != nil {
		return err
	}
	route := c.decision.Route
	c.v.Health.AdmitRoute(route.Index, route.RPMLimit, now)
	c.upstream = c.v.Providers[route.ProviderName]
	c.decided = true
	task := "chat"
	if c.extraction != nil {
		task = "extraction"
	}
	c.bufs.route = c.appendRouteJSON(c.bufs.route[:0], task)
	c.routeJSON = c.bufs.route
	c.aliasJSON = c.decision.Tier.AliasJSON
	c.routedMetadata()
	if ce := x.Log().Check(zap.DebugLevel, "route selected"); ce != nil {
		ce.Write(zap.ByteString("request_id", x.RequestID()), zap.String("key_id", c.key.ID),
			zap.String("route_id", route.ID), zap.String("reason_code", c.decision.ReasonCode))
	}
	return nil
}

// aliasOf is the alias a body names: the catalog's own string when a tier
// has it, so the body's bytes are not copied.
func (c *chat) aliasOf(b []byte) string {
	if t, ok := c.v.Index.TierBytes(b); ok {
		return t.Alias
	}
	return string(b)
}

func (c *chat) rateLimited(a state.Admission) error {
	who := "key " + c.key.ID
	if c.guestAddr != "" {
		who = "guest address " + c.guestAddr
	}
	return &rateLimitedError{who: who, limit: c.rpmLimit, guest: c.guestAddr != "",
		clientCap: c.block.RPMCap > 0 && c.block.RPMCap < c.key.RPMLimit, adm: a}
}

// dispatch builds the answer that sends the request to its provider: the
// cluster header with a route-cache clear, the provider's path and key, and
// the body with the upstream model and without routing.
func (c *chat) dispatch(body []byte, cb *chatBody) *extprocv3.ProcessingResponse {
	route := c.decision.Route
	edits := [3]jsonbody.Edit{jsonbody.ReplaceValue(&cb.model, route.ModelJSON)}
	n := 1
	if cb.hasRouting {
		edits[1] = jsonbody.RemoveMember(body, &cb.routing)
		n = 2
		if edits[1].Start < edits[0].Start {
			edits[0], edits[1] = edits[1], edits[0]
		}
	}
	if c.stream && !cb.hasStreamOptions {
		// Ask for the usage chunk, so the last data chunk carries usage
		// and cpen_status. It goes at the closing brace, after
		// every other edit.
		edits[n] = jsonbody.AppendMembers(body, true, []byte(`"stream_options":{"include_usage":true}`))
		n++
	}
	c.bufs.req.b = c.bufs.req.b[:0]
	newBody := jsonbody.Apply(c.cfg.Buffers.room(&c.bufs.req, jsonbody.Length(body, edits[:n]...)), body, edits[:n]...)
	c.bufs.req.b = newBody
	return c.sendUpstream(newBody)
}

// sendUpstream answers the request body: the cluster header with a
// route-cache clear, the provider's path and key instead of the client's,
// and the new body with its length.
func (c *chat) sendUpstream(newBody []byte) *extprocv3.ProcessingResponse {
	rp := c.x.Replies()
	mu := rp.Mutation(stream.AnswerRequestBody)
	// No client secret reaches a provider, whichever header carries it.
	for _, h := range clientCredentialHeaders {
		mu.Remove(h)
	}
	// The provider's own auth header is ours alone: set from its secret,
	// or removed when it has none, never the client's value.
	if !slices.Contains(clientCredentialHeaders[:], c.upstream.AuthHeader) {
		mu.Remove(c.upstream.AuthHeader)
	}
	mu.Remove("accept-encoding") // bodies come back plain, so they can be edited
	mu.Set("x-cpen-upstream-cluster", c.upstream.Cluster)
	mu.Set(":path", c.upstream.ChatPath)
	if c.upstream.AuthValue != "" {
		mu.Set(c.upstream.AuthHeader, c.upstream.AuthValue)
	}
	mu.SetInt("content-length", len(newBody))
	cr := rp.Common(stream.AnswerRequestBody, mu)
	rp.WithBody(stream.AnswerRequestBody, cr, newBody)
	cr.ClearRouteCache = true
	return rp.RequestBody(cr)
}

// appendRouteJSON renders the cpen_route object added to a routed answer:
// the route, its prices and why it was chosen.
func (c *chat) appendRouteJSON(b []byte, task string) []byte {
	d := &c.decision
	b = append(b, `{"alias":`...)
	b = append(b, d.Tier.AliasJSON...)
	b = append(b, `,"task":"`...)
	b = append(b, task...)
	b = append(b, `",`...)
	b = append(b, d.Route.MetaJSON...)
	b = append(b, `,"rpm_cap":`...)
	b = strconv.AppendInt(b, int64(c.rpmLimit), 10)
	b = append(b, `,"strategy":"`...)
	b = append(b, c.block.Strategy.String()...)
	b = append(b, `","continuity_mode":"`...)
	b = append(b, c.block.Mode.String()...)
	b = append(b, `","escalation_allowed":`...)
	b = appendBool(b, d.EscalationAllowed)
	b = append(b, `,"escalated":`...)
	b = appendBool(b, d.Escalated)
	b = append(b, `,"reason_code":"`...)
	b = append(b, d.ReasonCode...)
	b = append(b, `","reason":`...)
	if r := d.ReasonJSON(); r != nil {
		b = append(b, r...)
	} else {
		b = appendJSONString(b, d.Reason())
	}
	return append(b, '}')
}

// countHeader counts the entries of a header, whose name Envoy sends in
// lower case.
func countHeader(h *extprocv3.HttpHeaders, name string) int {
	n := 0
	for _, hv := range h.GetHeaders().GetHeaders() {
		if hv.GetKey() == name {
			n++
		}
	}
	return n
}
