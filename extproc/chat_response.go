package extproc

import (
	"bytes"
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
	mu.setInt("x-ratelimit-limit-requests", c.adm.Limit)
	mu.setInt("x-ratelimit-remaining-requests", c.adm.Remaining)
	mu.set("x-ratelimit-reset-requests", seconds(c.adm.Reset))
	if h.GetEndOfStream() {
		x.settle()
	}
	return x.rp.responseHeaders(x.rp.common(phRespHeaders, mu)), nil
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
	body := b.GetBody()
	var out []byte
	if c.stream && c.status < 400 {
		out = x.rewriteSSE(body)
	} else {
		out = x.rewriteJSON(body, statusWord(c.status))
	}
	if b.GetEndOfStream() {
		x.settle()
	}
	if out == nil {
		return x.rp.responseBody(nil), nil
	}
	mu := x.rp.mutation(phRespBody)
	mu.setInt("content-length", len(out))
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

// rewriteSSE edits a buffered event stream: every chunk's model becomes the
// alias, the first chunk gets cpen_route, the last data chunk before [DONE]
// gets cpen_status.
func (x *exchange) rewriteSSE(body []byte) []byte {
	lines := bytes.SplitAfter(body, []byte("\n"))
	first, last := -1, -1
	for i, ln := range lines {
		if p, ok := ssePayload(ln); ok && jsonbody.Shape(p) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return nil
	}
	out := slices.Grow(x.bufs.resp[:0], len(body)+len(x.chat.routeJSON)+64)
	for i, ln := range lines {
		p, ok := ssePayload(ln)
		if !ok || !jsonbody.Shape(p) {
			out = append(out, ln...)
			continue
		}
		out = append(out, "data: "...)
		out = x.patchObject(out, p, i == first, i == last, "completed")
		out = append(out, ln[len(ln)-len(lineEnd(ln)):]...)
	}
	x.bufs.resp = out
	return out
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
