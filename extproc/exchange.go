package extproc

import (
	"context"
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/structpb"
)

// phase is where one request stands in Envoy's message order.
type phase uint8

const (
	awaitingHeaders phase = iota // nothing seen yet
	awaitingBody                 // request headers answered, body to come
	decided                      // request side done, waiting for the upstream
	responseBody                 // response headers answered, body to come
	done                         // response complete
	rejected                     // an ImmediateResponse ended processing
)

func (p phase) String() string {
	return [...]string{"awaiting_headers", "awaiting_body", "decided", "response_body", "done", "rejected"}[p]
}

// processor handles one request of one endpoint, bound to its exchange at
// the request headers. Its own state lives in it; the exchange holds what
// the transport needs (the answer arena, the body buffers, the catalog
// version in force). The transport calls each method at most once per
// phase, in Envoy's order, and has already refused a request body that is
// empty or over the catalog's limit.
type processor interface {
	requestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error)
	requestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error)
	responseHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error)
	responseBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error)
	// finish runs once when the stream ends, whatever its outcome; the
	// processor is not used after it.
	finish()
}

// exchange is the state of one HTTP request across its ext_proc stream.
type exchange struct {
	// ctx is the stream's: calls to shared state end with it.
	ctx   context.Context
	srv   *Server
	log   *zap.Logger
	rt    *runtime // read once, at the request headers
	proc  processor
	phase phase
	path  string
	// attrs are the attributes Envoy sent with the request headers.
	attrs map[string]*structpb.Struct
	// requestID is Envoy's x-request-id, logged with every line.
	requestID []byte
	bufs      buffers
	rp        replies
	// parked is state a finished processor left for the next request on
	// this pooled exchange, so that processors with state do not allocate
	// it per request. Only the processor that parked it knows its type.
	parked any
}

// buffers are the new bodies and the cpen_route of a stream, kept with the
// pooled exchange: gRPC has serialised them before the stream ends.
type buffers struct {
	req, resp, route []byte
}

// maxKeptBuffer bounds what a pooled exchange keeps, so one large body
// does not pin its memory for good.
const maxKeptBuffer = 64 << 10

func (b buffers) reset() buffers {
	keep := func(p []byte) []byte {
		if cap(p) > maxKeptBuffer {
			return nil
		}
		return p[:0]
	}
	return buffers{req: keep(b.req), resp: keep(b.resp), route: keep(b.route)}
}

// handle advances the state machine by one message and returns its answer.
// Client errors become ImmediateResponses here, and only here.
func (x *exchange) handle(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	resp, err := x.step(req)
	if err == nil {
		if _, ok := resp.Response.(*extprocv3.ProcessingResponse_ImmediateResponse); ok {
			x.phase = rejected
		}
		return resp, nil
	}
	apiErr, ok := toAPIError(err)
	if !ok {
		return nil, err
	}
	x.phase = rejected
	if apiErr.metric != "" {
		x.srv.metrics.rejected(apiErr.metric)
	}
	x.log.Info("request rejected", zap.ByteString("request_id", x.requestID), zap.Int("status", apiErr.status),
		zap.String("code", apiErr.code), zap.String("detail", apiErr.detail))
	return errorReply(apiErr), nil
}

func (x *exchange) step(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	switch r := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		if x.phase != awaitingHeaders {
			return nil, x.outOfOrder("request_headers")
		}
		x.begin(r.RequestHeaders.GetHeaders())
		x.attrs = req.GetAttributes()
		resp, err := x.proc.requestHeaders(r.RequestHeaders)
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
		resp, err := x.proc.requestBody(r.RequestBody)
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
			x.proc = passThrough{x}
		case responseBody, done, rejected:
			return nil, x.outOfOrder("response_headers")
		}
		resp, err := x.proc.responseHeaders(r.ResponseHeaders)
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
		resp, err := x.proc.responseBody(r.ResponseBody)
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

func (x *exchange) outOfOrder(what string) error {
	return fmt.Errorf("%w: %s in phase %s", errProtocol, what, x.phase)
}

// checkBody refuses a request body over the limit of the catalog in
// force, or an empty one: every endpoint that reads a body wants one.
func (x *exchange) checkBody(body []byte) error {
	if x.rt != nil && int64(len(body)) > x.rt.maxBody {
		return &bodyTooLargeError{size: int64(len(body)), limit: x.rt.maxBody}
	}
	if len(body) == 0 {
		return errEmptyBody
	}
	return nil
}

// begin reads the catalog version and makes the request's processor from
// the endpoint its path names.
func (x *exchange) begin(h *corev3.HeaderMap) {
	x.rt = x.srv.rt.Load()
	x.requestID = headerBytes(h, "x-request-id")
	path := headerValue(h, ":path")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	x.path = path
	x.proc = x.srv.endpoints.processor(x, path)
}

func (x *exchange) finish() {
	if x.proc != nil {
		x.proc.finish()
	}
}
