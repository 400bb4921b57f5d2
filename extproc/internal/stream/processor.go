package stream

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Processor handles one request of one endpoint, bound to its exchange at
// the request headers. Its own state lives in it; the exchange holds what
// the transport needs (the answer arena, the body limit). The transport
// calls each method at most once per phase, in Envoy's order, and has
// already refused a request body that is empty or over the limit the
// processor set.
//
// A method returns a client error as a *Refusal or one of this package's
// Err values, answered with its reply; any other error is not the
// client's and ends the stream with a gRPC error.
type Processor interface {
	RequestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error)
	RequestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error)
	ResponseHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error)
	ResponseBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error)
	// Finish runs once when the stream ends, whatever its outcome; the
	// processor is not used after it.
	Finish()
}

// Factory makes the processor of one request, bound to its exchange. It
// runs at the request headers, before the processor's RequestHeaders.
type Factory func(x *Exchange) Processor

// Endpoints maps a request path, without its query, to the factory of its
// processor. A new endpoint is one processor and one line in the table.
// Methods are left to the processors: an endpoint that needs a key checks
// it before the method, so that a wrong method never tells a caller
// without a key that the path exists.
type Endpoints map[string]Factory

// PassThrough answers every phase with CONTINUE and no change. It serves
// streams that start at the response (Envoy's own local replies), and
// processors that embed it answer the phases they leave alone.
type PassThrough struct{ x *Exchange }

var _ Processor = PassThrough{}

// NewPassThrough returns the pass-through processor of x.
func NewPassThrough(x *Exchange) PassThrough { return PassThrough{x} }

// RequestHeaders continues unchanged.
func (p PassThrough) RequestHeaders(*extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.RequestHeaders(nil), nil
}

// RequestBody continues unchanged.
func (p PassThrough) RequestBody(*extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.RequestBody(nil), nil
}

// ResponseHeaders continues unchanged.
func (p PassThrough) ResponseHeaders(*extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.ResponseHeaders(nil), nil
}

// ResponseBody continues unchanged.
func (p PassThrough) ResponseBody(*extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	return p.x.rp.ResponseBody(nil), nil
}

// Finish has nothing to release.
func (PassThrough) Finish() {}
