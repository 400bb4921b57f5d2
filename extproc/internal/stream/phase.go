package stream

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
