package stream

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/structpb"
)

// Exchange is the state of one HTTP request across its ext_proc stream.
type Exchange struct {
	// ctx is the stream's: calls to shared state end with it.
	ctx   context.Context
	srv   *Server
	proc  Processor
	phase phase
	// attrs are the attributes Envoy sent with the request headers.
	attrs map[string]*structpb.Struct
	// requestID is Envoy's x-request-id, logged with every line.
	requestID []byte
	// bodyLimit is the largest request body the processor accepts; 0
	// sets none.
	bodyLimit int64
	// rp is the answers' arena, kept with the pooled exchange: its own
	// reset clears only what a request used of its 7 KiB.
	rp *Replies
	// parked is state a finished processor left for the next request on
	// this pooled exchange, so that processors with state do not allocate
	// it per request. Only the processor that parked it knows its type.
	parked any
	// md is the next answer's dynamic metadata; kept with the pooled
	// exchange, like parked.
	md *Metadata
	// in is where the stream's messages are decoded; kept with the pooled
	// exchange, like md.
	in *inbox
	// msgStart is when the message in hand was received; processing sums
	// the sidecar's own time over the request's messages so far.
	msgStart   time.Time
	processing time.Duration
	// refusedStatus and refusedCode are the error reply's, once the
	// transport refused the request.
	refusedStatus int
	refusedCode   string
}

// Refusal is the status and error code of the reply that refused the
// request; ok is false while it is not refused.
func (x *Exchange) Refusal() (status int, code string, ok bool) {
	return x.refusedStatus, x.refusedCode, x.refusedStatus != 0
}

// Metadata is the dynamic metadata of the next answer: fields set on it go
// out with the answer to the message in hand.
func (x *Exchange) Metadata() *Metadata {
	if x.md == nil {
		x.md = new(Metadata)
	}
	return x.md
}

// Processing is the sidecar's own time on this request so far: every
// earlier message from its receipt to its answer's send, and the message
// in hand up to now.
func (x *Exchange) Processing() time.Duration {
	if x.msgStart.IsZero() {
		return x.processing
	}
	return x.processing + time.Since(x.msgStart)
}

// Context is the stream's context: calls to shared state end with it.
func (x *Exchange) Context() context.Context { return x.ctx }

// Log is the server's logger.
func (x *Exchange) Log() *zap.Logger { return x.srv.cfg.Log }

// RequestID is Envoy's x-request-id of the request, for log lines; the
// bytes are the request headers' own, not a copy.
func (x *Exchange) RequestID() []byte { return x.requestID }

// Attributes are the request attributes Envoy sent with the request
// headers, by filter name.
func (x *Exchange) Attributes() map[string]*structpb.Struct { return x.attrs }

// Replies is the stream's answer arena.
func (x *Exchange) Replies() *Replies { return x.rp }

// SetBodyLimit sets the largest request body the transport lets through
// to the processor. A processor that reads a body sets it from the catalog
// version it serves under; without one, only gRPC's message limit bounds
// a body.
func (x *Exchange) SetBodyLimit(n int64) { x.bodyLimit = n }

// Park leaves state for the next processor on this pooled exchange; nil
// clears it.
func (x *Exchange) Park(v any) { x.parked = v }

// Parked is the state a finished processor parked, or nil.
func (x *Exchange) Parked() any { return x.parked }

// Processor is the request's processor; nil before its headers.
func (x *Exchange) Processor() Processor { return x.proc }

// Handle advances the state machine by one message and returns its answer.
// Client errors become ImmediateResponses here, and only here; any other
// error is returned, for the stream to end with.
func (x *Exchange) Handle(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	resp, err := x.step(req)
	if err == nil {
		if _, ok := resp.Response.(*extprocv3.ProcessingResponse_ImmediateResponse); ok {
			x.phase = rejected
		}
		if x.md != nil {
			x.md.attach(resp)
		}
		return resp, nil
	}
	r, ok := refusalOf(err)
	if !ok {
		return nil, err
	}
	x.phase = rejected
	row := r.cause.row()
	if row.metric != "" && x.srv.cfg.Metrics != nil {
		x.srv.cfg.Metrics.Rejected(row.metric)
	}
	x.Log().Info("request rejected", zap.ByteString("request_id", x.requestID), zap.Int("status", row.status),
		zap.String("code", row.code), zap.String("detail", r.detail))
	x.refusedStatus, x.refusedCode = row.status, row.code
	md := x.Metadata()
	md.SetString("status", "rejected")
	md.SetString("error_code", row.code)
	md.SetNumber("processing_us", float64(x.Processing().Microseconds()))
	resp = errorReply(r)
	md.attach(resp)
	return resp, nil
}

func (x *Exchange) step(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	switch r := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		if x.phase != awaitingHeaders {
			return nil, x.outOfOrder("request_headers")
		}
		x.attrs = req.GetAttributes()
		x.begin(r.RequestHeaders.GetHeaders())
		resp, err := x.proc.RequestHeaders(r.RequestHeaders)
		if err == nil {
			x.phase = awaitingBody
			if r.RequestHeaders.GetEndOfStream() {
				x.phase = decided
			}
		}
		return resp, err
	case *extprocv3.ProcessingRequest_RequestBody:
		if x.phase != awaitingBody {
			return nil, x.outOfOrder("request_body")
		}
		if err := x.checkBody(r.RequestBody.GetBody()); err != nil {
			return nil, err
		}
		resp, err := x.proc.RequestBody(r.RequestBody)
		if err == nil {
			x.phase = decided
		}
		return resp, err
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocv3.TrailersResponse{}}}, nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		switch x.phase {
		case awaitingHeaders:
			// Envoy's own local reply, with the request side never seen.
			x.proc = PassThrough{x}
		case responseBody, done, rejected:
			return nil, x.outOfOrder("response_headers")
		}
		resp, err := x.proc.ResponseHeaders(r.ResponseHeaders)
		if err == nil {
			x.phase = responseBody
			if r.ResponseHeaders.GetEndOfStream() {
				x.phase = done
			}
		}
		return resp, err
	case *extprocv3.ProcessingRequest_ResponseBody:
		if x.phase != responseBody {
			return nil, x.outOfOrder("response_body")
		}
		resp, err := x.proc.ResponseBody(r.ResponseBody)
		if err == nil && r.ResponseBody.GetEndOfStream() {
			x.phase = done
		}
		return resp, err
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}}, nil
	}
	return nil, fmt.Errorf("%w: unsupported message %T", errProtocol, req.Request)
}

func (x *Exchange) outOfOrder(what string) error {
	return fmt.Errorf("%w: %s in phase %s", errProtocol, what, x.phase)
}

// checkBody refuses a request body over the processor's limit, or an
// empty one: every endpoint that reads a body wants one.
func (x *Exchange) checkBody(body []byte) error {
	if x.bodyLimit > 0 && int64(len(body)) > x.bodyLimit {
		return &bodyTooLargeError{size: int64(len(body)), limit: x.bodyLimit}
	}
	if len(body) == 0 {
		return ErrEmptyBody
	}
	return nil
}

// begin makes the request's processor from the endpoint its path names.
func (x *Exchange) begin(h *corev3.HeaderMap) {
	x.requestID = HeaderBytes(h, "x-request-id")
	path := headerValue(h, ":path")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	f, ok := x.srv.cfg.Endpoints[path]
	if !ok {
		f = x.srv.cfg.NotFound
	}
	x.proc = f(x)
}

func (x *Exchange) finish() {
	if x.proc != nil {
		x.proc.Finish()
	}
}
