package standin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

type (
	bodyMode   = extprocfilterv3.ProcessingMode_BodySendMode
	headerMode = extprocfilterv3.ProcessingMode_HeaderSendMode
)

const (
	modeNone     = extprocfilterv3.ProcessingMode_NONE
	modeBuffered = extprocfilterv3.ProcessingMode_BUFFERED
	modeStreamed = extprocfilterv3.ProcessingMode_STREAMED
)

// dirState is one direction of Envoy's ProcessorState.
type dirState struct {
	sendHeaders  bool
	sendTrailers bool
	bodyMode     bodyMode
	noBody       bool
}

// shouldRemoveContentLength is ProcessorState::shouldRemoveContentLength.
func (d dirState) shouldRemoveContentLength() bool {
	switch d.bodyMode {
	case modeStreamed, extprocfilterv3.ProcessingMode_BUFFERED_PARTIAL, extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED:
		return true
	case modeBuffered:
		return !d.sendHeaders
	}
	return false
}

func (d dirState) noExternalProcess() bool {
	return !d.sendHeaders && !d.sendTrailers && d.bodyMode == modeNone
}

func requestState(m *extprocfilterv3.ProcessingMode) dirState {
	return dirState{
		sendHeaders:  m.GetRequestHeaderMode() != extprocfilterv3.ProcessingMode_SKIP,
		sendTrailers: m.GetRequestTrailerMode() == extprocfilterv3.ProcessingMode_SEND,
		bodyMode:     m.GetRequestBodyMode(),
	}
}

func responseState(m *extprocfilterv3.ProcessingMode) dirState {
	return dirState{
		sendHeaders:  m.GetResponseHeaderMode() != extprocfilterv3.ProcessingMode_SKIP,
		sendTrailers: m.GetResponseTrailerMode() == extprocfilterv3.ProcessingMode_SEND,
		bodyMode:     m.GetResponseBodyMode(),
	}
}

type outcomeKind int

const (
	outAnswer    outcomeKind = iota // a matching answer (or nothing to do): go on
	outImmediate                    // immediate_response: reply with it
	outFail                         // Envoy sends a local reply with status
	outContinue                     // ext_proc is complete: go on unmodified
	outGone                         // the client went away
)

type outcome struct {
	kind   outcomeKind
	resp   *extprocv3.ProcessingResponse
	status int
}

// txn is one HTTP request through the ext_proc filter and the router.
type txn struct {
	p   *Proxy
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context

	requestID    string
	reqHeaders   *headerMap
	client       downstream // the downstream remote address
	dec, enc     dirState
	reqAttrsSent bool

	ss           *sidestream
	pending      []msgKind // messages sent and not answered yet, oldest first
	timer        *time.Timer
	timerOn      bool
	protocolSent bool
	complete     bool // Envoy's processing_complete_

	routeCached   bool
	cluster       string
	clusterOK     bool
	routerStarted bool

	reqReplaced     bool // CONTINUE_AND_REPLACE with a body mutation
	reqReplacedBody []byte

	respStarted bool // response headers went to the client

	log txnLog // what the access log line reports
}

// ServeHTTP runs one request through the stand-in.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := &txn{
		p:   p,
		w:   w,
		r:   r,
		ctx: r.Context(),
		dec: requestState(p.mode),
		enc: responseState(p.mode),
	}
	t.beginLog()
	defer t.finish()
	t.run()
}

func (t *txn) run() {
	t.reqHeaders, t.requestID, t.client = t.p.requestHeaders(t.r)
	t.dec.noBody = t.r.ContentLength == 0
	// ext_proc's decodeHeaders asks for the route (per-route config), so the
	// connection manager caches it from the headers as they are now.
	t.refreshRoute()

	headersHeld := false
	if t.dec.sendHeaders {
		res, ready := t.ensureStream()
		if ready {
			t.send(kindRequestHeaders, &extprocv3.ProcessingRequest{
				Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
					Headers: t.reqHeaders.proto(), EndOfStream: t.dec.noBody,
				}},
			})
			headersHeld = true
		}
		// Decided after the message is sent and before its answer.
		t.stripContentLength(t.dec, t.reqHeaders)
		if ready {
			res = t.await()
			if res.kind == outAnswer {
				res = t.onRequestHeaders(res.resp.GetRequestHeaders())
			}
		}
		if t.terminal(res) {
			return
		}
	} else {
		t.stripContentLength(t.dec, t.reqHeaders)
	}

	// ext_proc holds the headers (and so the router) only while a buffered
	// body is still to be processed.
	held := headersHeld && !t.complete && !t.dec.noBody && t.dec.bodyMode == modeBuffered
	if !held && !t.startRouter() {
		return
	}

	var body upstreamBody
	switch {
	case t.reqReplaced:
		body = upstreamBody{data: t.reqReplacedBody}
	case t.dec.noBody:
		body = upstreamBody{none: true}
	case t.complete || t.dec.bodyMode == modeNone:
		body = upstreamBody{stream: t.r.Body}
	case t.dec.bodyMode == modeBuffered:
		data, ok := t.bufferedRequestBody(headersHeld)
		if !ok {
			return
		}
		body = upstreamBody{data: data}
	default:
		data, ok := t.streamedRequestBody()
		if !ok {
			return
		}
		body = upstreamBody{data: data}
	}
	if !t.routerStarted && !t.startRouter() {
		return
	}
	t.forward(body)
}

// startRouter is the router's decodeHeaders: the route is recomputed if the
// cache was cleared, and an unknown cluster gives cluster_not_found (503).
func (t *txn) startRouter() bool {
	if !t.routeCached {
		t.refreshRoute()
	}
	t.routerStarted = true
	if !t.clusterOK {
		t.log.flags |= flagNC
		t.localReply(http.StatusServiceUnavailable, "", nil)
		return false
	}
	return true
}

// refreshRoute is refreshCachedRoute: the route is resolved from the headers
// as they are now, and the stream's upstream cluster info (what
// %UPSTREAM_CLUSTER% logs) becomes that route's cluster if it exists, or none.
func (t *txn) refreshRoute() {
	t.cluster, t.clusterOK = t.p.resolveCluster(t.reqHeaders)
	t.routeCached = true
	t.log.cluster = ""
	if t.clusterOK {
		t.log.cluster = t.cluster
	}
}

func (t *txn) onRequestHeaders(hr *extprocv3.HeadersResponse) outcome {
	cr := hr.GetResponse()
	replacing := cr.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE
	if hm := cr.GetHeaderMutation(); hm != nil {
		if err := t.mutate(hm, t.reqHeaders, mutateOptions{replacing: replacing, skipContentLength: t.dec.shouldRemoveContentLength()}); err != nil {
			return t.mutationFailed(err)
		}
	}
	t.clearRouteCache(cr)
	if replacing {
		if bm := cr.GetBodyMutation(); bm != nil {
			t.reqHeaders.remove("content-length")
			t.reqReplaced = true
			t.reqReplacedBody = applyBodyMutation(bm, nil)
		}
		// No more messages for this direction.
		t.dec.bodyMode = modeNone
		t.dec.sendTrailers = false
	}
	t.closeIfLast(kindRequestHeaders, false)
	return outcome{kind: outAnswer}
}

func (t *txn) bufferedRequestBody(headersHeld bool) ([]byte, bool) {
	limit := t.p.cfg.BufferLimitBytes
	data, err := io.ReadAll(io.LimitReader(t.r.Body, int64(limit)+1))
	if err != nil {
		t.p.logf("standin: reading request body: %v", err)
		return nil, false
	}
	if len(data) > limit {
		// The connection manager's request_payload_too_large.
		t.localReply(http.StatusRequestEntityTooLarge, "Payload Too Large", nil)
		return nil, false
	}
	tr := t.requestTrailers()
	res := outcome{kind: outAnswer}
	// With trailers the body's end came with them: no data, no message.
	if len(data) > 0 || tr == nil {
		var ready bool
		res, ready = t.ensureStream()
		if ready {
			t.send(kindRequestBody, bodyRequest(kindRequestBody, data, tr == nil))
			res = t.await()
			if res.kind == outAnswer {
				var held *headerMap
				if headersHeld {
					held = t.reqHeaders
				}
				data, res = t.onBufferedBody(t.dec, held, data, res.resp.GetRequestBody(), true)
			}
		}
	}
	if res.kind == outAnswer && tr != nil && t.dec.sendTrailers {
		res = t.exchangeTrailers(kindRequestTrailers, tr)
	}
	if t.terminal(res) {
		return nil, false
	}
	return data, true
}

// onBufferedBody applies a BUFFERED body answer; held is nil when ext_proc
// never saw (and so does not hold) this direction's headers.
func (t *txn) onBufferedBody(st dirState, held *headerMap, data []byte, br *extprocv3.BodyResponse, request bool) ([]byte, outcome) {
	cr := br.GetResponse()
	if hm := cr.GetHeaderMutation(); hm != nil && held != nil {
		replacing := cr.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE
		if err := t.mutate(hm, held, mutateOptions{replacing: replacing, skipContentLength: st.shouldRemoveContentLength()}); err != nil {
			return nil, t.mutationFailed(err)
		}
	}
	if bm := cr.GetBodyMutation(); bm != nil {
		if held != nil {
			if cl, ok := held.contentLength(); ok && cl != int64(len(bm.GetBody())) {
				return nil, t.mutationFailed(errors.New("mismatch between content length and the length of the mutated body"))
			}
		}
		data = applyBodyMutation(bm, data)
	}
	if request {
		t.clearRouteCache(cr)
	}
	return data, outcome{kind: outAnswer}
}

func (t *txn) streamedRequestBody() ([]byte, bool) {
	rd := readChunks(t.r.Body, nil)
	defer rd.stop()
	var out []byte
	res := t.pipeline(kindRequestBody, rd, func(b []byte) error {
		out = append(out, b...)
		return nil
	}, t.requestTrailers)
	if tr := t.requestTrailers(); res.kind == outAnswer && tr != nil && t.dec.sendTrailers {
		res = t.exchangeTrailers(kindRequestTrailers, tr)
	}
	if t.terminal(res) {
		return nil, false
	}
	return out, true
}

// pipeline sends every chunk of rd to ext_proc without waiting for answers,
// applies the answers FIFO and hands each chunk to sink in order. Header
// mutations in these answers are ignored, as Envoy does in STREAMED mode.
// trailers (nil: never any) tells, once rd ended, whether trailers ended
// the body instead of its last chunk.
func (t *txn) pipeline(kind msgKind, rd *chunkReader, sink func([]byte) error, trailers func() *headerMap) outcome {
	type queued struct {
		data []byte
		eos  bool
	}
	var queue []queued
	srcDone := false
	for {
		if t.complete {
			// ext_proc is out: what is queued goes on unmodified, then the rest.
			for _, q := range queue {
				if err := sink(q.data); err != nil {
					return outcome{kind: outGone}
				}
			}
			if srcDone {
				return outcome{kind: outContinue}
			}
			return t.passthrough(rd, sink)
		}
		if srcDone && len(queue) == 0 {
			return outcome{kind: outAnswer}
		}
		var src <-chan chunkEvent
		if !srcDone {
			src = rd.ch
		}
		select {
		case ev := <-src:
			if ev.err != nil {
				return outcome{kind: outGone}
			}
			srcDone = ev.eos
			eos := ev.eos
			if eos && trailers != nil && trailers() != nil {
				eos = false
				if len(ev.data) == 0 {
					continue
				}
			}
			queue = append(queue, queued{data: ev.data, eos: eos})
			res, ready := t.ensureStream()
			if !ready {
				if res.kind == outContinue {
					continue
				}
				return res
			}
			t.send(kind, bodyRequest(kind, ev.data, eos))
		case it := <-t.recvCh():
			res, handled := t.onItem(it)
			if !handled {
				continue
			}
			switch res.kind {
			case outAnswer:
				q := queue[0]
				queue = queue[1:]
				cr := bodyCommon(res.resp)
				data := q.data
				if bm := cr.GetBodyMutation(); bm != nil {
					data = applyBodyMutation(bm, data)
				}
				if kind == kindRequestBody {
					t.clearRouteCache(cr)
				}
				if err := sink(data); err != nil {
					return outcome{kind: outGone}
				}
				t.closeIfLast(kind, q.eos)
			case outContinue:
			default:
				return res
			}
		case <-t.timerC():
			if res := t.onTimeout(); res.kind != outContinue {
				return res
			}
		case <-t.ctx.Done():
			return outcome{kind: outGone}
		}
	}
}

// passthrough forwards the rest of rd unprocessed.
func (t *txn) passthrough(rd *chunkReader, sink func([]byte) error) outcome {
	for {
		select {
		case ev := <-rd.ch:
			if ev.err != nil {
				return outcome{kind: outGone}
			}
			if err := sink(ev.data); err != nil {
				return outcome{kind: outGone}
			}
			if ev.eos {
				return outcome{kind: outContinue}
			}
		case <-t.ctx.Done():
			return outcome{kind: outGone}
		}
	}
}

func bodyCommon(resp *extprocv3.ProcessingResponse) *extprocv3.CommonResponse {
	if rb := resp.GetRequestBody(); rb != nil {
		return rb.GetResponse()
	}
	return resp.GetResponseBody().GetResponse()
}

func bodyRequest(kind msgKind, data []byte, eos bool) *extprocv3.ProcessingRequest {
	b := &extprocv3.HttpBody{Body: data, EndOfStream: eos}
	if kind == kindRequestBody {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: b}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: b}}
}

// clearRouteCache is DecodingProcessorState::clearRouteCache with
// route_cache_action DEFAULT. Once the router runs, a clear changes nothing.
func (t *txn) clearRouteCache(cr *extprocv3.CommonResponse) {
	if !cr.GetClearRouteCache() {
		return
	}
	if cr.GetHeaderMutation() == nil {
		t.p.stats.clearRouteCacheIgnored.Add(1)
		return
	}
	if !t.routerStarted {
		t.routeCached = false
	}
}

func (t *txn) stripContentLength(st dirState, h *headerMap) {
	if !t.complete && st.shouldRemoveContentLength() {
		h.remove("content-length")
	}
}

func (t *txn) mutate(m *extprocv3.HeaderMutation, h *headerMap, opt mutateOptions) error {
	rejected, err := applyHeaderMutation(m, h, t.p.cfg.MutationRules, opt)
	t.p.stats.rejected.Add(uint64(rejected))
	return err
}

// mutationFailed is Filter::handleErrorResponse: local reply with
// status_on_error, even with failure_mode_allow.
func (t *txn) mutationFailed(err error) outcome {
	t.p.logf("standin: %s: %v", t.requestID, err)
	t.complete = true
	t.closeStream()
	return outcome{kind: outFail, status: t.p.cfg.StatusOnError}
}

// terminal acts on an outcome that ends the request and reports whether it did.
func (t *txn) terminal(res outcome) bool {
	switch res.kind {
	case outImmediate:
		t.immediateReply(res.resp.GetImmediateResponse())
		return true
	case outFail:
		// Envoy's own error replies carry no body.
		t.localReply(res.status, "", nil)
		return true
	case outGone:
		return true
	}
	return false
}

// ensureStream opens the stream when there is something to send (openStream).
// ready=false means the caller must act on the outcome instead of sending.
func (t *txn) ensureStream() (outcome, bool) {
	if t.complete {
		return outcome{kind: outContinue}, false
	}
	if t.ss != nil {
		return outcome{}, true
	}
	h, err := t.p.pickHost()
	if err != nil {
		return t.onStreamEnd(err), false
	}
	ss, err := openSidestream(t.ctx, h.client)
	if err != nil {
		return t.onStreamEnd(err), false
	}
	t.p.stats.streamsStarted.Add(1)
	t.ss = ss
	return outcome{}, true
}

func (t *txn) send(kind msgKind, req *extprocv3.ProcessingRequest) {
	req.MetadataContext = &corev3.Metadata{}
	// Attributes go in the first message of the direction only.
	if kind.request() && !t.reqAttrsSent && len(t.p.cfg.RequestAttributes) > 0 {
		req.Attributes = map[string]*structpb.Struct{attributesKey: requestAttributes(t.p.cfg.RequestAttributes, t.client)}
		t.reqAttrsSent = true
	}
	if !t.protocolSent {
		req.ProtocolConfig = &extprocv3.ProtocolConfiguration{
			RequestBodyMode:  t.dec.bodyMode,
			ResponseBodyMode: t.enc.bodyMode,
		}
		t.protocolSent = true
	}
	t.pending = append(t.pending, kind)
	t.armTimer()
	t.p.stats.streamMsgsSent.Add(1)
	if err := t.ss.stream.Send(req); err != nil {
		// The stream is over; Recv reports how it ended.
		t.p.logf("standin: %s: send %s: %v", t.requestID, kind, err)
	}
}

// await waits for the answer to the oldest pending message.
func (t *txn) await() outcome {
	for {
		select {
		case it := <-t.recvCh():
			if res, handled := t.onItem(it); handled {
				return res
			}
		case <-t.timerC():
			return t.onTimeout()
		case <-t.ctx.Done():
			return outcome{kind: outGone}
		}
	}
}

func (t *txn) recvCh() <-chan recvItem {
	if t.ss == nil {
		return nil
	}
	return t.ss.recv
}

func (t *txn) onItem(it recvItem) (outcome, bool) {
	if it.err != nil {
		return t.onStreamEnd(it.err), true
	}
	return t.onMessage(it.resp)
}

// onMessage is Filter::onReceiveMessage. handled=false means the message
// changed nothing the caller waits for (override_message_timeout).
func (t *txn) onMessage(resp *extprocv3.ProcessingResponse) (outcome, bool) {
	st := &t.p.stats
	if resp.GetOverrideMessageTimeout() != nil {
		// max_message_timeout is 0, which disables the override.
		st.overrideTimeoutIgnored.Add(1)
		return outcome{}, false
	}
	front := kindNone
	if len(t.pending) > 0 {
		front = t.pending[0]
	}
	if t.p.cfg.AllowModeOverride && resp.GetModeOverride() != nil &&
		(front == kindRequestHeaders || front == kindResponseHeaders) {
		t.applyModeOverride(resp.GetModeOverride())
	}
	var got msgKind
	switch resp.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		got = kindRequestHeaders
	case *extprocv3.ProcessingResponse_RequestBody:
		got = kindRequestBody
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		got = kindResponseHeaders
	case *extprocv3.ProcessingResponse_ResponseBody:
		got = kindResponseBody
	case *extprocv3.ProcessingResponse_RequestTrailers:
		got = kindRequestTrailers
	case *extprocv3.ProcessingResponse_ResponseTrailers:
		got = kindResponseTrailers
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		t.mergeMetadata(resp)
		st.streamMsgsReceived.Add(1)
		t.complete = true
		t.closeStream()
		return outcome{kind: outImmediate, resp: resp}, true
	default:
		// No oneof set, or one this Envoy does not handle.
		return t.spurious(), true
	}
	// Metadata is applied before the state check, as in Envoy.
	t.mergeMetadata(resp)
	if got != front {
		return t.spurious(), true
	}
	t.pending = t.pending[1:]
	// Envoy stops the timer on every answer, even with chunks still pending.
	t.stopTimer()
	st.streamMsgsReceived.Add(1)
	return outcome{kind: outAnswer, resp: resp}, true
}

func (t *txn) spurious() outcome {
	t.p.stats.spurious.Add(1)
	t.complete = true
	t.closeStream()
	if t.p.cfg.FailureModeAllow {
		t.p.stats.failureModeAllowed.Add(1)
		return outcome{kind: outContinue}
	}
	return outcome{kind: outFail, status: t.p.cfg.StatusOnError}
}

func (t *txn) onTimeout() outcome {
	t.timerOn = false
	t.p.stats.messageTimeouts.Add(1)
	t.complete = true
	t.closeStream()
	if t.p.cfg.FailureModeAllow {
		t.p.stats.failureModeAllowed.Add(1)
		return outcome{kind: outContinue}
	}
	// Hard-coded 504, whatever status_on_error says.
	return outcome{kind: outFail, status: http.StatusGatewayTimeout}
}

// onStreamEnd handles the stream's end: OK is onGrpcClose (carry on
// unmodified), anything else is onGrpcError.
func (t *txn) onStreamEnd(err error) outcome {
	t.closeStream()
	t.complete = true
	if errors.Is(err, io.EOF) || status.Code(err) == codes.OK {
		return outcome{kind: outContinue}
	}
	t.p.logf("standin: %s: ext_proc stream failed: %v", t.requestID, err)
	t.p.stats.streamsFailed.Add(1)
	if t.p.cfg.FailureModeAllow {
		t.p.stats.failureModeAllowed.Add(1)
		return outcome{kind: outContinue}
	}
	return outcome{kind: outFail, status: t.p.cfg.StatusOnError}
}

// applyModeOverride is effectiveModeOverride + setProcessingMode on both
// directions: header and trailer modes only when not DEFAULT, body modes as given.
func (t *txn) applyModeOverride(o *extprocfilterv3.ProcessingMode) {
	base := t.p.mode
	pick := func(o, base headerMode) headerMode {
		if o != extprocfilterv3.ProcessingMode_DEFAULT {
			return o
		}
		return base
	}
	eff := &extprocfilterv3.ProcessingMode{
		RequestHeaderMode:   pick(o.GetRequestHeaderMode(), base.GetRequestHeaderMode()),
		ResponseHeaderMode:  pick(o.GetResponseHeaderMode(), base.GetResponseHeaderMode()),
		RequestTrailerMode:  pick(o.GetRequestTrailerMode(), base.GetRequestTrailerMode()),
		ResponseTrailerMode: pick(o.GetResponseTrailerMode(), base.GetResponseTrailerMode()),
		RequestBodyMode:     o.GetRequestBodyMode(),
		ResponseBodyMode:    o.GetResponseBodyMode(),
	}
	if !supportedBodyMode(eff.GetRequestBodyMode()) || !supportedBodyMode(eff.GetResponseBodyMode()) {
		t.p.logf("standin: %s: mode_override with an unsupported body mode ignored: %v", t.requestID, o)
		return
	}
	noReq, noResp := t.dec.noBody, t.enc.noBody
	t.dec, t.enc = requestState(eff), responseState(eff)
	t.dec.noBody, t.enc.noBody = noReq, noResp
}

func (t *txn) mergeMetadata(resp *extprocv3.ProcessingResponse) {
	dm := resp.GetDynamicMetadata()
	if dm == nil {
		return
	}
	for ns, v := range dm.GetFields() {
		if !t.p.receives(ns) {
			continue
		}
		s := v.GetStructValue()
		if s == nil {
			s = &structpb.Struct{}
		}
		t.p.mergeMetadata(t.requestID, ns, s)
		t.mergeLogMetadata(ns, s)
	}
}

// closeIfLast is closeGrpcStreamIfLastRespReceived (ext_proc_stream_close_optimization).
func (t *txn) closeIfLast(kind msgKind, lastBody bool) {
	if t.ss == nil {
		return
	}
	last := false
	switch kind {
	case kindRequestHeaders:
		last = (t.dec.noBody || (t.dec.bodyMode == modeNone && !t.dec.sendTrailers)) && t.enc.noExternalProcess()
	case kindRequestBody:
		last = lastBody && t.dec.bodyMode == modeStreamed && t.enc.noExternalProcess()
	case kindResponseHeaders:
		last = t.enc.noBody || (t.enc.bodyMode == modeNone && !t.enc.sendTrailers)
	case kindResponseBody:
		last = lastBody && t.enc.bodyMode == modeStreamed
	case kindRequestTrailers:
		last = t.enc.noExternalProcess()
	case kindResponseTrailers:
		last = true
	}
	if last {
		t.closeStream()
		t.complete = true
	}
}

func (t *txn) closeStream() {
	if t.ss != nil {
		t.ss.close()
		t.ss = nil
	}
	t.pending = nil
	t.stopTimer()
}

func (t *txn) armTimer() {
	if t.timer == nil {
		t.timer = time.NewTimer(t.p.cfg.MessageTimeout)
	} else {
		t.timer.Reset(t.p.cfg.MessageTimeout)
	}
	t.timerOn = true
}

func (t *txn) stopTimer() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.timerOn = false
}

func (t *txn) timerC() <-chan time.Time {
	if !t.timerOn {
		return nil
	}
	return t.timer.C
}

func (p *Proxy) receives(ns string) bool {
	for _, n := range p.cfg.ReceivingNamespaces {
		if n == ns {
			return true
		}
	}
	return false
}

func (p *Proxy) resolveCluster(h *headerMap) (string, bool) {
	name, ok := h.get(strings.ToLower(p.cfg.ClusterHeader))
	if !ok {
		return "", false
	}
	_, known := p.clusters[name]
	return name, known
}

// requestHeaders builds the header map the HTTP/1 codec and the connection
// manager hand to the filters, and returns the request's x-request-id and
// the client's address.
func (p *Proxy) requestHeaders(r *http.Request) (*headerMap, string, downstream) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.RequestURI
	if !strings.HasPrefix(path, "/") {
		path = r.URL.RequestURI()
	}
	h := &headerMap{}
	h.add(":authority", r.Host)
	h.add(":path", normalizePath(path, p.cfg.NormalizePath, p.cfg.MergeSlashes))
	h.add(":method", r.Method)
	h.add(":scheme", scheme)
	h.appendSorted(r.Header, func(k string) bool { return isHopByHop(k) || k == "host" })
	client := p.clientAddress(h, r.RemoteAddr, scheme)
	// generate_request_id with preserve_external_request_id off: an edge
	// request's own x-request-id is replaced, any other keeps its own
	// (ConnectionManagerUtility::mutateRequestHeaders, force_set). With
	// use_remote_address every request is an edge request (see
	// clientAddress), so a client cannot choose the id Envoy logs.
	id, _ := h.get("x-request-id")
	if id == "" || p.cfg.UseRemoteAddress {
		id = p.cfg.NewRequestID()
		h.set("x-request-id", id)
	}
	return h, id, client
}
