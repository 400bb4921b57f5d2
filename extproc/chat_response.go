package extproc

import (
	"bytes"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"slices"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"

	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/selector"
)

// providerHeaderPrefixes name response headers that would tell the client
// which provider served it; they are dropped.
var providerHeaderPrefixes = [...]string{"openai-", "anthropic-", "x-goog-", "mistral-", "x-ratelimit-"}

func (chat) responseHeaders(x *exchange, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	c := &x.chat
	if !c.decided {
		return x.rp.responseHeaders(nil), nil
	}
	c.status = atoi(headerBytes(h.GetHeaders(), ":status"))
	ctype := headerBytes(h.GetHeaders(), "content-type")
	enc := string(headerBytes(h.GetHeaders(), "content-encoding"))
	c.rewrite = (enc == "" || enc == "identity") &&
		(bytes.HasPrefix(ctype, []byte("application/json")) || bytes.HasPrefix(ctype, []byte("text/event-stream")))

	mu := x.rp.mutation(phRespHeaders)
	model := c.decision.Route.Model
	for _, hv := range h.GetHeaders().GetHeaders() {
		k := hv.GetKey()
		if k == "" || k[0] == ':' {
			continue
		}
		drop := bytes.Contains(hv.GetRawValue(), []byte(model))
		for _, p := range providerHeaderPrefixes {
			drop = drop || strings.HasPrefix(k, p)
		}
		if drop {
			mu.remove(k)
		}
	}
	mu.set("x-cpen-route-id", c.decision.Route.ID)
	mu.set("x-cpen-status", statusWord(c.status))
	// An event stream is rewritten chunk by chunk as it arrives (STREAMED);
	// its length changes, so content-length goes now: a mode switch comes
	// too late for Envoy to drop it.
	c.streaming = c.stream && c.status == 200 && c.rewrite && bytes.HasPrefix(ctype, []byte("text/event-stream"))
	if c.streaming {
		mu.remove("content-length")
	}
	mu.setInt("x-ratelimit-limit-requests", c.adm.Limit)
	mu.setInt("x-ratelimit-remaining-requests", c.adm.Remaining)
	mu.set("x-ratelimit-reset-requests", seconds(c.adm.Reset))
	if h.GetEndOfStream() {
		x.settle()
	}
	resp := x.rp.responseHeaders(x.rp.common(phRespHeaders, mu))
	if c.streaming {
		x.rp.streamed.ResponseBodyMode = filterv3.ProcessingMode_STREAMED
		resp.ModeOverride = &x.rp.streamed
	}
	return resp, nil
}

func statusWord(status int) string {
	if status >= 400 {
		return "failed"
	}
	return "completed"
}

func (chat) responseBody(x *exchange, b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	c := &x.chat
	if !c.decided || !c.rewrite {
		if b.GetEndOfStream() {
			x.settle()
		}
		return x.rp.responseBody(nil), nil
	}
	body, eos := b.GetBody(), b.GetEndOfStream()
	c.bodyMsgs++
	var out []byte
	switch {
	case c.streaming:
		// Every chunk is answered with exactly the bytes to forward; an
		// empty body holds an incomplete event back.
		x.bufs.resp = x.streamChunk(x.bufs.resp[:0], body, eos)
		out = x.bufs.resp
		if out == nil {
			out = []byte{}
		}
	default:
		out = x.rewriteJSON(body, statusWord(c.status))
	}
	if eos {
		x.settle()
	}
	if out == nil {
		return x.rp.responseBody(nil), nil
	}
	mu := x.rp.mutation(phRespBody)
	if eos && c.bodyMsgs == 1 {
		// The whole body came in one message: buffered (Envoy may not have
		// honoured the switch), so its length is checked against ours.
		mu.setInt("content-length", len(out))
	}
	cr := x.rp.common(phRespBody, mu)
	x.rp.withBody(phRespBody, cr, out)
	return x.rp.responseBody(cr), nil
}

// rewriteJSON restores the alias in "model" and adds cpen_status and
// cpen_route to a JSON object body; nil leaves the body as it is.
func (x *exchange) rewriteJSON(body []byte, status string) []byte {
	if !jsonbody.Shape(body) {
		return nil
	}
	x.bufs.resp = x.patchObject(x.bufs.resp[:0], body, true, true, status)
	return x.bufs.resp
}

// patchObject edits one JSON object (Shape checked): model → alias, and
// the cpen fields asked for. It appends the result to dst in one pass.
func (x *exchange) patchObject(dst, obj []byte, withRoute, withStatus bool, status string) []byte {
	c := &x.chat
	var model jsonbody.Member
	hasModel, has := false, false
	for it := jsonbody.Members(obj); it.Next(); {
		has = true
		if !hasModel && it.M.KeyIs("model") {
			model, hasModel = it.M, true
		}
	}
	closing := bytes.LastIndexByte(obj, '}')
	dst = slices.Grow(dst, len(obj)+len(c.aliasJSON)+len(c.routeJSON)+48)
	at := 0
	if hasModel {
		dst = append(dst, obj[:model.ValStart]...)
		dst = append(dst, c.aliasJSON...)
		at = model.ValEnd
	}
	dst = append(dst, obj[at:closing]...)
	sep := has
	if withStatus {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"cpen_status":"`...)
		dst = append(dst, status...)
		dst = append(dst, '"')
		sep = true
	}
	if withRoute {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"cpen_route":`...)
		dst = append(dst, c.routeJSON...)
	}
	return append(dst, obj[closing:]...)
}

// ssePayload returns the data of a "data:" line, without its line end.
func ssePayload(ln []byte) ([]byte, bool) {
	p, ok := bytes.CutPrefix(ln, []byte("data:"))
	if !ok {
		return nil, false
	}
	p = bytes.TrimPrefix(p, []byte(" "))
	return p[:len(p)-len(lineEnd(p))], true
}

func lineEnd(ln []byte) []byte {
	switch {
	case bytes.HasSuffix(ln, []byte("\r\n")):
		return []byte("\r\n")
	case bytes.HasSuffix(ln, []byte("\n")):
		return []byte("\n")
	}
	return nil
}

// settle records the outcome once: route health, and the continuity pin
// on success.
func (x *exchange) settle() {
	c := &x.chat
	if !c.decided || c.settled {
		return
	}
	c.settled = true
	now := x.srv.opts.now()
	route := c.decision.Route
	failed := c.status >= 500 || c.status == 429 || c.status == 0
	x.rt.health.Observe(route.Index, now.Sub(c.start), failed, now)
	if c.decision.SetsPin && c.status > 0 && c.status < 400 {
		x.srv.opts.pins.Set(c.key.ID, c.decision.Tier.Alias, selector.Pin{
			RouteID: route.ID, ModelFamily: route.ModelFamily, VisibleTotal: route.VisibleTotal,
		}, now)
	}
	x.rt.counters[route.Index].served(c.status)
	// Envoy's access log has the request; this line is for debugging.
	if ce := x.log.Check(zap.DebugLevel, "request served"); ce != nil {
		ce.Write(zap.ByteString("request_id", x.requestID), zap.String("key_id", c.key.ID), zap.String("route_id", route.ID),
			zap.Int("status", c.status), zap.String("reason_code", c.decision.ReasonCode), zap.Duration("duration", now.Sub(c.start)))
	}
}

func (chat) finish(x *exchange) {
	c := &x.chat
	if c.decided && !c.settled {
		// The stream ended before the response did (client gone, upstream
		// reset): count it against the route, and never move the pin.
		c.status = 0
		x.settle()
	}
}
