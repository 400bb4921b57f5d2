package stream

import extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

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

// Phase names an ext_proc message kind for the processing-time metric.
type Phase uint8

// The phases of the processing-time metric.
const (
	PhaseRequestHeaders Phase = iota
	PhaseRequestBody
	PhaseResponseHeaders
	PhaseResponseBody
	PhaseTrailers
	// PhaseTotal is a whole request: the sum over its messages.
	PhaseTotal
	NumPhases
)

// String is the phase's metric label.
func (p Phase) String() string {
	return [...]string{"request_headers", "request_body", "response_headers", "response_body", "trailers", "total"}[p]
}

func phaseOf(req *extprocv3.ProcessingRequest) Phase {
	switch req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return PhaseRequestHeaders
	case *extprocv3.ProcessingRequest_RequestBody:
		return PhaseRequestBody
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return PhaseResponseHeaders
	case *extprocv3.ProcessingRequest_ResponseBody:
		return PhaseResponseBody
	}
	return PhaseTrailers
}
