package standin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// upstreamBody is what the router sends upstream: nothing, a buffer, or the
// client's body streamed through unprocessed.
type upstreamBody struct {
	none   bool
	data   []byte
	stream io.Reader
}

type doResult struct {
	resp *http.Response
	err  error
}

// forward is the router: send the request to the chosen cluster and run the
// response through the filter's encode path.
func (t *txn) forward(body upstreamBody) {
	base := t.p.clusters[t.cluster]
	// The route timeout spans the whole upstream exchange, body included.
	ctx, cancel := context.WithCancel(t.ctx)
	if d := t.p.cfg.RouteTimeout; d > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(t.ctx, d)
	}
	defer cancel()
	req, err := t.upstreamRequest(ctx, base, body)
	if err != nil {
		t.p.logf("standin: %s: %v", t.requestID, err)
		t.localReply(http.StatusServiceUnavailable, "", nil)
		return
	}
	// The router edits the downstream request headers in place, so the
	// access log sees them without request_headers_to_remove.
	for _, k := range t.p.cfg.RequestHeadersToRemove {
		t.reqHeaders.remove(strings.ToLower(k))
	}
	start := time.Now()
	// Owned here: it always delivers, and we always receive before returning.
	done := make(chan doResult, 1)
	go func() {
		resp, err := t.p.upstream.Do(req)
		done <- doResult{resp: resp, err: err}
	}()
	var d doResult
wait:
	for {
		select {
		case d = <-done:
			break wait
		case it := <-t.recvCh():
			// Nothing is pending now: any message is spurious, and the
			// stream may end; either can end the request.
			res, handled := t.onItem(it)
			if !handled || res.kind == outContinue {
				continue
			}
			cancel()
			if d = <-done; d.resp != nil {
				d.resp.Body.Close()
			}
			t.terminal(res)
			return
		case <-t.ctx.Done():
			cancel()
			if d = <-done; d.resp != nil {
				d.resp.Body.Close()
			}
			return
		}
	}
	if d.err != nil {
		switch {
		case t.ctx.Err() != nil:
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			t.log.flags |= flagUT
			t.localReply(http.StatusGatewayTimeout, "upstream request timeout", nil)
		default:
			t.log.flags |= upstreamFailureFlag(d.err)
			t.localReply(http.StatusServiceUnavailable, upstreamErrorBody(d.err), nil)
		}
		return
	}
	defer d.resp.Body.Close()
	// An upstream body that failed while the client was still there is the
	// route timeout or the upstream's connection ending (the router's reset
	// of the stream after its headers went out).
	if t.respondUpstream(d.resp, time.Since(start), cancel) && t.ctx.Err() == nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.log.flags |= flagUT
		} else {
			t.log.flags |= flagUC
		}
	}
}

// upstreamFailureFlag tells a connection that could not be made (UF) from
// one that ended before the response headers (UC).
func upstreamFailureFlag(err error) respFlags {
	if connectFailed(err) {
		return flagUF
	}
	return flagUC
}

// connectFailed: the dial itself failed.
func connectFailed(err error) bool {
	var oe *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &oe) && oe.Op == "dial")
}

func upstreamErrorBody(err error) string {
	const prefix = "upstream connect error or disconnect/reset before headers. "
	if errors.Is(err, syscall.ECONNREFUSED) {
		return prefix + "reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused"
	}
	if connectFailed(err) {
		return prefix + "reset reason: remote connection failure"
	}
	return prefix + "reset reason: connection termination"
}

func (t *txn) upstreamRequest(ctx context.Context, base *url.URL, body upstreamBody) (*http.Request, error) {
	h := t.reqHeaders
	method, _ := h.get(":method")
	path, _ := h.get(":path")
	ref, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("upstream request: bad :path %q: %w", path, err)
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + ref.Path
	u.RawPath = ""
	if ref.RawPath != "" {
		u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + ref.RawPath
	}
	u.RawQuery = ref.RawQuery
	var rb io.Reader
	switch {
	case body.none:
		rb = http.NoBody
	case body.stream != nil:
		rb = body.stream
	default:
		rb = bytes.NewReader(body.data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rb)
	if err != nil {
		return nil, fmt.Errorf("upstream request: %w", err)
	}
	// auto_host_rewrite: the endpoint's hostname.
	req.Host = base.Hostname()
	removed := make(map[string]bool, len(t.p.cfg.RequestHeadersToRemove))
	for _, k := range t.p.cfg.RequestHeadersToRemove {
		removed[strings.ToLower(k)] = true
	}
	for _, e := range h.entries {
		if strings.HasPrefix(e.key, ":") || isHopByHop(e.key) || e.key == "host" || e.key == "content-length" || removed[e.key] {
			continue
		}
		req.Header.Add(e.key, e.value)
	}
	if !t.p.cfg.SuppressEnvoyHeaders && t.p.cfg.RouteTimeout > 0 {
		req.Header.Set("x-envoy-expected-rq-timeout-ms", strconv.FormatInt(t.p.cfg.RouteTimeout.Milliseconds(), 10))
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // Go would add its own.
	}
	// Without content-length Envoy's HTTP/1 codec uses chunked encoding.
	switch cl, ok := h.contentLength(); {
	case ok && !removed["content-length"]:
		req.ContentLength = cl
	case body.none:
		req.ContentLength = 0
	default:
		req.ContentLength = -1
	}
	return req, nil
}

// response is what reaches the filter's encode path: an upstream response or
// a local reply sent through the filter chain.
type response struct {
	headers  *headerMap // with :status
	noBody   bool
	body     *chunkReader
	trailers func() *headerMap // once body ended: the trailers, nil if none; nil for local replies

	replaced     bool // CONTINUE_AND_REPLACE with a body mutation
	replacedBody []byte
}

// respondUpstream reports whether reading the upstream body failed while
// the response was being passed on.
func (t *txn) respondUpstream(resp *http.Response, elapsed time.Duration, cancel context.CancelFunc) bool {
	// The router records the upstream's status when its headers arrive
	// (Filter::onUpstreamHeaders); what finally goes downstream replaces it.
	t.log.code = resp.StatusCode
	h := &headerMap{}
	h.add(":status", strconv.Itoa(resp.StatusCode))
	h.appendSorted(resp.Header, isHopByHop)
	if !t.p.cfg.SuppressEnvoyHeaders {
		h.add("x-envoy-upstream-service-time", strconv.FormatInt(elapsed.Milliseconds(), 10))
	}
	noBody := resp.Body == http.NoBody || resp.ContentLength == 0 || t.r.Method == http.MethodHead
	rd := readChunks(resp.Body, cancel)
	defer rd.stop()
	trailers := func() *headerMap {
		if !t.p.cfg.HTTP1Trailers {
			return nil // the upstream speaks HTTP/1.1
		}
		return trailerMap(resp.Trailer)
	}
	t.respond(&response{headers: h, noBody: noBody, body: rd, trailers: trailers})
	rd.stop()
	return rd.sawError()
}

// trailerMap returns the response's trailers; valid once the body ended.
func (rs *response) trailerMap() *headerMap {
	if rs.trailers == nil {
		return nil
	}
	return rs.trailers()
}

// respond runs a response through ext_proc's encode path (unless processing
// is complete) and writes it to the client.
func (t *txn) respond(rs *response) {
	t.enc.noBody = rs.noBody
	headersHeld := false
	if !t.complete && t.enc.sendHeaders {
		res, ready := t.ensureStream()
		if ready {
			t.send(kindResponseHeaders, &extprocv3.ProcessingRequest{
				Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{
					Headers: rs.headers.proto(), EndOfStream: rs.noBody,
				}},
			})
			headersHeld = true
		}
		// Decided before the answer: a later mode_override cannot strip it.
		t.stripContentLength(t.enc, rs.headers)
		if ready {
			res = t.await()
			if res.kind == outAnswer {
				res = t.onResponseHeaders(rs, res.resp.GetResponseHeaders())
			}
		}
		if t.terminal(res) {
			return
		}
	} else {
		t.stripContentLength(t.enc, rs.headers)
		if !t.complete && t.enc.noExternalProcess() {
			t.closeStream()
			t.complete = true
		}
	}

	switch {
	case rs.replaced:
		t.writeHeaders(rs.headers, len(rs.replacedBody) > 0)
		if t.writeChunk(rs.replacedBody) == nil {
			t.log.ended = true
		}
	case rs.noBody:
		t.writeHeaders(rs.headers, false)
		t.log.ended = true
	case t.complete || t.enc.bodyMode == modeNone:
		t.writeHeaders(rs.headers, true)
		switch res := t.passthrough(rs.body, t.writeChunk); {
		case res.kind == outContinue:
			t.log.ended = true
		case res.kind == outGone && t.ctx.Err() == nil:
			t.reset()
		}
	case t.enc.bodyMode == modeBuffered:
		t.bufferedResponseBody(rs, headersHeld)
	default:
		// STREAMED: the headers go downstream now, chunks as they are answered.
		t.writeHeaders(rs.headers, true)
		res := t.pipeline(kindResponseBody, rs.body, t.writeChunk, rs.trailers)
		if tr := rs.trailerMap(); res.kind == outAnswer && tr != nil && t.enc.sendTrailers {
			res = t.exchangeTrailers(kindResponseTrailers, tr)
		}
		switch res.kind {
		case outAnswer:
			t.log.ended = true
		case outImmediate, outFail:
			// No new reply is possible after the headers went out.
			t.reset()
		case outGone:
			if t.ctx.Err() == nil {
				t.reset()
			}
		}
	}
}

func (t *txn) onResponseHeaders(rs *response, hr *extprocv3.HeadersResponse) outcome {
	cr := hr.GetResponse()
	replacing := cr.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE
	if hm := cr.GetHeaderMutation(); hm != nil {
		if err := t.mutate(hm, rs.headers, mutateOptions{replacing: replacing, skipContentLength: t.enc.shouldRemoveContentLength()}); err != nil {
			return t.mutationFailed(err)
		}
	}
	// clear_route_cache means nothing in the response direction.
	if replacing {
		if bm := cr.GetBodyMutation(); bm != nil {
			rs.headers.remove("content-length")
			rs.replaced = true
			rs.replacedBody = applyBodyMutation(bm, nil)
		}
		t.enc.bodyMode = modeNone
		t.enc.sendTrailers = false
	}
	t.closeIfLast(kindResponseHeaders, false)
	return outcome{kind: outAnswer}
}

func (t *txn) bufferedResponseBody(rs *response, headersHeld bool) {
	limit := t.p.cfg.BufferLimitBytes
	var data []byte
collect:
	for {
		select {
		case ev := <-rs.body.ch:
			if ev.err != nil {
				// Upstream reset after its headers: the router resets downstream.
				t.reset()
				return
			}
			data = append(data, ev.data...)
			if len(data) > limit {
				// response_payload_too_large goes straight to the codec.
				t.complete = true
				t.closeStream()
				t.localReply(http.StatusInternalServerError, "Internal Server Error", nil)
				return
			}
			if ev.eos {
				break collect
			}
		case it := <-t.recvCh():
			if res, handled := t.onItem(it); handled && res.kind != outContinue {
				t.terminal(res)
				return
			}
		case <-t.ctx.Done():
			return
		}
	}
	tr := rs.trailerMap()
	res := outcome{kind: outAnswer}
	// With trailers the body's end came with them: no data, no message.
	if len(data) > 0 || tr == nil {
		var ready bool
		res, ready = t.ensureStream()
		if ready {
			t.send(kindResponseBody, bodyRequest(kindResponseBody, data, tr == nil))
			res = t.await()
			if res.kind == outAnswer {
				var held *headerMap
				if headersHeld {
					held = rs.headers
				}
				data, res = t.onBufferedBody(t.enc, held, data, res.resp.GetResponseBody(), false)
			}
		}
	}
	if res.kind == outAnswer && tr != nil && t.enc.sendTrailers {
		res = t.exchangeTrailers(kindResponseTrailers, tr)
	}
	if t.terminal(res) {
		return
	}
	t.writeHeaders(rs.headers, len(data) > 0)
	if t.writeChunk(data) == nil {
		t.log.ended = true
	}
}

// immediateReply is Filter::sendImmediateResponse.
func (t *txn) immediateReply(ir *extprocv3.ImmediateResponse) {
	code := http.StatusOK
	if ir.GetStatus() != nil && int(ir.GetStatus().GetCode()) >= 200 {
		code = int(ir.GetStatus().GetCode())
	}
	t.localReply(code, string(ir.GetBody()), func(h *headerMap) {
		if ir.GetHeaders() == nil {
			return
		}
		// A failure is only logged; what was applied before it stays.
		if err := t.mutate(ir.GetHeaders(), h, mutateOptions{}); err != nil {
			t.p.logf("standin: %s: immediate response mutations failed: %v", t.requestID, err)
		}
	})
}

// localReply is sendLocalReply: through the filter chain (and so ext_proc's
// encode path, unless processing is complete) before the response started,
// a reset after.
func (t *txn) localReply(code int, body string, mutate func(*headerMap)) {
	if t.respStarted {
		t.reset()
		return
	}
	h := &headerMap{}
	h.add(":status", strconv.Itoa(code))
	if mutate != nil {
		mutate(h)
	}
	head := t.r.Method == http.MethodHead
	if body != "" && !head {
		h.set("content-length", strconv.Itoa(len(body)))
		if v, _ := h.get("content-type"); v == "" {
			h.set("content-type", "text/plain")
		}
	} else {
		h.remove("content-length")
		h.remove("content-type")
		body = ""
	}
	t.respond(&response{headers: h, noBody: body == "", body: staticChunks([]byte(body))})
}

func (t *txn) writeHeaders(h *headerMap, hasBody bool) {
	if t.respStarted {
		return
	}
	code := http.StatusOK
	if v, ok := h.get(":status"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 100 && n <= 999 {
			code = n
		}
	}
	wh := t.w.Header()
	for _, e := range h.entries {
		if strings.HasPrefix(e.key, ":") || isHopByHop(e.key) {
			continue
		}
		wh.Add(e.key, e.value)
	}
	if !h.has("content-type") {
		wh["Content-Type"] = nil // no sniffing: Envoy adds none
	}
	t.w.WriteHeader(code)
	t.respStarted = true
	t.log.code = code
	if hasBody && !h.has("content-length") {
		// Envoy's HTTP/1 codec goes chunked without content-length.
		t.flush()
	}
}

func (t *txn) writeChunk(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := t.w.Write(b)
	t.log.bytesSent += int64(n)
	if err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	t.flush()
	return nil
}

func (t *txn) flush() {
	if f, ok := t.w.(http.Flusher); ok {
		f.Flush()
	}
}

// reset is what Envoy does when a reply is impossible because the response
// already started: reset the downstream stream. The connection is taken
// over and closed, so the client sees the body cut short; callers return
// right after. A server that cannot hand over its connection (HTTP/2) gets
// its response ended instead, and a log line says the reset was lost.
func (t *txn) reset() {
	t.complete = true
	t.log.reset = true
	conn, _, err := http.NewResponseController(t.w).Hijack()
	if err != nil {
		t.p.logf("standin: %s: reset impossible (%v); response ended instead", t.requestID, err)
		return
	}
	_ = conn.Close()
}
