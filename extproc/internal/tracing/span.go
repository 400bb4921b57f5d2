package tracing

import (
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span is the span of one request. Every method is a no-op on a nil Span,
// which is what a nil Tracer hands out.
type Span struct {
	span trace.Span
}

// SetRoute records the route the selector picked, the strategy it applied
// and the reason code of its decision.
func (s *Span) SetRoute(routeID, strategy, reasonCode string) {
	if s == nil {
		return
	}
	s.span.SetAttributes(
		keyRouteID.String(routeID),
		keyStrategy.String(strategy),
		keyReasonCode.String(reasonCode),
	)
}

// SetUsage records the provider's token counts.
func (s *Span) SetUsage(input, output int64) {
	if s == nil {
		return
	}
	s.span.SetAttributes(keyInputTokens.Int64(input), keyOutputTokens.Int64(output))
}

// SetCost records the request's cost in USD as the exact decimal string it
// was billed with; a float attribute would round it.
func (s *Span) SetCost(usd string) {
	if s == nil {
		return
	}
	s.span.SetAttributes(keyCostUSD.String(usd))
}

// SetRefusal records that the sidecar refused the request itself, with the
// HTTP status it answered and its error code, and marks the span failed.
func (s *Span) SetRefusal(status int, code string) {
	if s == nil {
		return
	}
	s.span.SetAttributes(keyStatusCode.Int(status), keyErrorType.String(code))
	s.span.SetStatus(codes.Error, code)
}

// SetStatus records the HTTP status of the answer. A 5xx or a 429 marks the
// span failed with the status as its error type; other statuses, 4xx
// included, are the caller's outcome and leave the span status unset.
func (s *Span) SetStatus(status int) {
	if s == nil {
		return
	}
	s.span.SetAttributes(keyStatusCode.Int(status))
	if status >= http.StatusInternalServerError || status == http.StatusTooManyRequests {
		errType := strconv.Itoa(status)
		s.span.SetAttributes(keyErrorType.String(errType))
		s.span.SetStatus(codes.Error, errType)
	}
}

// End ends the span at t.
func (s *Span) End(t time.Time) {
	if s == nil {
		return
	}
	s.span.End(trace.WithTimestamp(t))
}
