package extproc

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/extract"
	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/routing"
	"github.com/cpen/router/selector"
)

// clientCredentialHeaders are the request headers that carry a client's
// secret in the ways clients and SDKs send one; all are removed before a
// request goes to a provider.
var clientCredentialHeaders = [...]string{"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"}

// keyPrefix starts every client key; anything else is refused unhashed.
const keyPrefix = "cpen_live_"

// chatState is what a chat request carries from its request to its response.
type chatState struct {
	key       *config.Key
	block     routing.Block
	decision  selector.Decision
	decided   bool
	upstream  *upstream
	adm       admission
	rpmLimit  int
	start     time.Time
	status    int
	stream    bool
	rewrite   bool   // the response body is JSON or SSE we may edit
	scrub     bool   // an error body we can read, scrubbed of the provider
	switched  bool   // the response body was switched to STREAMED
	guestAddr string // the playground's client address; empty for keys
	streaming bool   // the response is an event stream, rewritten per chunk
	bodyMsgs  int    // response body messages seen
	sse       sseState
	// extraction is the parsed /v1/extractions request; nil for chat.
	extraction *extract.Request
	routeJSON  []byte // the cpen_route object, built once per request
	aliasJSON  []byte // the alias as a JSON string
	settled    bool
}

// chat is the processor of one POST /v1/chat/completions request, or of
// one guest playground chat, which has no key and a per-address limit. It
// is bound to its request's exchange and recycled by the server's pool.
type chat struct {
	x     *exchange
	guest bool
	chatState
}

// chatPath is the endpoint path after /v1, appended to a provider's prefix.
const chatPath = "/chat/completions"

func (c *chat) requestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	x := c.x
	if x.rt == nil {
		return nil, errNotReady
	}
	var key *config.Key
	if c.guest {
		// Guests share one limit per client address, as Envoy saw it.
		addr, ok := clientAddr(x.attrs)
		if !ok {
			return nil, errClientAddressUnknown
		}
		key = &config.Key{ID: "guest:" + addr, RPMLimit: x.rt.cat.GuestRPM}
		c.guestAddr = addr
	} else {
		k, ok := x.rt.authenticate(headerBytes(h.GetHeaders(), "authorization"))
		if !ok {
			return nil, errUnauthorized
		}
		key = k
	}
	if string(headerBytes(h.GetHeaders(), ":method")) != "POST" {
		return nil, errMethod
	}
	if h.GetEndOfStream() {
		return nil, errEmptyBody
	}
	c.key = key
	return x.rp.requestHeaders(c.dropClientRouting(h)), nil
}

// dropClientRouting removes every client-sent x-cpen-* header, so that
// only the sidecar's own routing decision reaches Envoy's route.
func (c *chat) dropClientRouting(h *extprocv3.HttpHeaders) *extprocv3.CommonResponse {
	x := c.x
	var mu mutation
	for _, hv := range h.GetHeaders().GetHeaders() {
		if strings.HasPrefix(hv.GetKey(), "x-cpen-") {
			if mu.m == nil {
				mu = x.rp.mutation(phReqHeaders)
			}
			mu.remove(hv.GetKey())
		}
	}
	if mu.m == nil {
		return nil
	}
	return x.rp.common(phReqHeaders, mu)
}

// authenticate finds the key for an Authorization header value. Only the
// hash is compared; the key itself is never kept or logged.
func (rt *runtime) authenticate(auth []byte) (*config.Key, bool) {
	const bearer = "bearer "
	if len(auth) <= len(bearer) || !bytes.EqualFold(auth[:len(bearer)], []byte(bearer)) {
		return nil, false
	}
	secret := bytes.TrimSpace(auth[len(bearer):])
	if !bytes.HasPrefix(secret, []byte(keyPrefix)) || len(secret) > 256 {
		return nil, false
	}
	k, ok := rt.keys[sha256.Sum256(secret)]
	return k, ok
}

// routedKeys are the top-level keys the sidecar reads or edits: a body may
// hold each at most once, and never in another letter case.
var routedKeys = [...]string{"model", "routing", "stream", "stream_options", "messages"}

// caseVariant reports which routed key m's key matches under Unicode case
// folding without being equal to it.
func caseVariant(m *jsonbody.Member) (string, bool) {
	// Folding keeps a key within three bytes a letter of the original
	// ("K" is three bytes); longer keys cannot match.
	if !m.Escaped {
		if len(m.Key) < len("model") || len(m.Key) > 3*len("stream_options") {
			return "", false
		}
		for _, r := range routedKeys {
			if bytes.EqualFold(m.Key, []byte(r)) {
				return r, true // an exact match was taken by the caller
			}
		}
		return "", false
	}
	k := m.KeyString()
	for _, r := range routedKeys {
		if strings.EqualFold(k, r) && k != r {
			return r, true
		}
	}
	return "", false
}

// chatBody is what the request path reads from the top level of the body.
type chatBody struct {
	model, routing, stream jsonbody.Member
	hasRouting, hasStream  bool
	hasStreamOptions       bool
	alias                  []byte // the model value, unquoted
}

func parseChatBody(body []byte, maxDepth int, cb *chatBody) error {
	if err := jsonbody.Validate(body, maxDepth); err != nil {
		return depthError(err, maxDepth)
	}
	hasModel, hasMessages := false, false
	for it := jsonbody.Members(body); it.Next(); {
		m := &it.M
		var slot *jsonbody.Member
		var seen *bool
		switch {
		case m.KeyIs("model"):
			slot, seen = &cb.model, &hasModel
		case m.KeyIs("routing"):
			slot, seen = &cb.routing, &cb.hasRouting
		case m.KeyIs("stream"):
			slot, seen = &cb.stream, &cb.hasStream
		case m.KeyIs("messages"):
			var spare jsonbody.Member
			slot, seen = &spare, &hasMessages
		case m.KeyIs("stream_options"):
			if cb.hasStreamOptions {
				return &routing.FieldError{Field: "stream_options", Msg: "appears twice"}
			}
			cb.hasStreamOptions = true
			continue
		default:
			if k, ok := caseVariant(m); ok {
				// A parser that matches keys case-insensitively (Go's
				// encoding/json is one) could read this one instead of the
				// key we priced and routed: refuse rather than guess.
				return &routing.FieldError{Field: clip(m.KeyString(), maxQuoted), Msg: "is a case variant of " + k + "; send the key once, in lower case"}
			}
			continue
		}
		if *seen {
			return &routing.FieldError{Field: m.KeyString(), Msg: "appears twice"}
		}
		*slot, *seen = *m, true
	}
	if !hasModel {
		return errModelMissing
	}
	raw := cb.model.Value(body)
	if raw[0] != '"' {
		return errModelNotString
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		cb.alias = raw[1 : len(raw)-1]
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return errModelNotString
	}
	cb.alias = []byte(s)
	return nil
}

func (c *chat) requestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	x := c.x
	body := b.GetBody()
	var cb chatBody
	if err := parseChatBody(body, x.rt.maxDepth, &cb); err != nil {
		return nil, err
	}
	if cb.hasRouting {
		var err error
		if c.block, err = routing.Parse(cb.routing.Value(body)); err != nil {
			return nil, err
		}
	}
	c.stream = cb.hasStream && string(cb.stream.Value(body)) == "true"
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
	// The catalog's own string serves as the alias: no copy of the body's.
	alias := ""
	if t, ok := x.rt.index.TierBytes(aliasBytes); ok {
		alias = t.Alias
	} else {
		alias = string(aliasBytes)
	}
	now := x.srv.opts.now()
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
		if p, ok := x.srv.opts.pins.Get(x.ctx, c.key.ID, alias, now); ok {
			pin = p
			req.Pin = &pin
		}
	}
	x.rt.health.Advance(now)
	err := x.rt.index.Select(&req, x.rt.health, &c.decision)
	if errors.Is(err, selector.ErrNoRouteUnderCap) {
		// 429 wins over 402, and a 402 takes no slot.
		if a := x.srv.opts.limiter.Peek(x.ctx, c.key.ID, c.rpmLimit, now); !a.Allowed {
			return c.rateLimited(a)
		}
		return err
	}
	if err != nil {
		return err
	}
	c.adm = x.srv.opts.limiter.Admit(x.ctx, c.key.ID, c.rpmLimit, now)
	if !c.adm.Allowed {
		return c.rateLimited(c.adm)
	}
	route := c.decision.Route
	x.rt.health.AdmitRoute(route.Index, route.RPMLimit, now)
	c.upstream = x.rt.providers[route.ProviderName]
	c.decided = true
	task := "chat"
	if c.extraction != nil {
		task = "extraction"
	}
	x.bufs.route = c.appendRouteJSON(x.bufs.route[:0], task)
	c.routeJSON = x.bufs.route
	c.aliasJSON = appendJSONString(nil, c.decision.Tier.Alias)
	if ce := x.log.Check(zap.DebugLevel, "route selected"); ce != nil {
		ce.Write(zap.ByteString("request_id", x.requestID), zap.String("key_id", c.key.ID),
			zap.String("route_id", route.ID), zap.String("reason_code", c.decision.ReasonCode))
	}
	return nil
}

func (c *chat) rateLimited(a admission) error {
	who := "key " + c.key.ID
	if c.guestAddr != "" {
		who = "guest address " + c.guestAddr
	}
	return &rateLimitedError{who: who, limit: c.rpmLimit,
		clientCap: c.block.RPMCap > 0 && c.block.RPMCap < c.key.RPMLimit, adm: a}
}

// dispatch builds the answer that sends the request to its provider: the
// cluster header with a route-cache clear, the provider's path and key, and
// the body with the upstream model and without routing.
func (c *chat) dispatch(body []byte, cb *chatBody) *extprocv3.ProcessingResponse {
	x := c.x
	route := c.decision.Route
	model := appendJSONString(make([]byte, 0, len(route.Model)+2), route.Model)
	edits := [3]jsonbody.Edit{jsonbody.ReplaceValue(&cb.model, model)}
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
	newBody := jsonbody.Apply(x.bufs.req, body, edits[:n]...)
	x.bufs.req = newBody
	return c.sendUpstream(newBody)
}

// sendUpstream answers the request body: the cluster header with a
// route-cache clear, the provider's path and key instead of the client's,
// and the new body with its length.
func (c *chat) sendUpstream(newBody []byte) *extprocv3.ProcessingResponse {
	x := c.x
	mu := x.rp.mutation(phReqBody)
	// No client secret reaches a provider, whichever header carries it.
	for _, h := range clientCredentialHeaders {
		mu.remove(h)
	}
	// The provider's own auth header is ours alone: set from its secret,
	// or removed when it has none, never the client's value.
	if !slices.Contains(clientCredentialHeaders[:], c.upstream.authHeader) {
		mu.remove(c.upstream.authHeader)
	}
	mu.remove("accept-encoding") // bodies come back plain, so they can be edited
	mu.set("x-cpen-upstream-cluster", c.upstream.cluster)
	mu.set(":path", c.upstream.chatPath)
	if c.upstream.authValue != "" {
		mu.set(c.upstream.authHeader, c.upstream.authValue)
	}
	mu.setInt("content-length", len(newBody))
	cr := x.rp.common(phReqBody, mu)
	x.rp.withBody(phReqBody, cr, newBody)
	cr.ClearRouteCache = true
	return x.rp.requestBody(cr)
}

// appendRouteJSON renders the cpen_route object added to a routed answer:
// the route, its prices and why it was chosen.
func (c *chat) appendRouteJSON(b []byte, task string) []byte {
	d := &c.decision
	b = append(b, `{"alias":`...)
	b = appendJSONString(b, d.Tier.Alias)
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
	b = appendJSONString(b, d.Reason())
	return append(b, '}')
}
