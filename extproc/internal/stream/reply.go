package stream

import (
	"strconv"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// Immediate builds an ImmediateResponse with a JSON body; headers (name,
// value) are set after content-type, so one of them may replace it.
func Immediate(status int, body []byte, details string, headers [][2]string) *extprocv3.ProcessingResponse {
	var mu Mutation
	mu.Set("content-type", "application/json")
	for _, h := range headers {
		mu.Set(h[0], h[1])
	}
	return immediateWith(mu, status, body, details)
}

// immediateWith builds an ImmediateResponse with the given headers.
func immediateWith(mu Mutation, status int, body []byte, details string) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: mu.m,
			Body:    body,
			Details: details,
		},
	}}
}

// errorReply turns a refusal into the sidecar's own error reply.
func errorReply(r *Refusal) *extprocv3.ProcessingResponse {
	row := r.cause.row()
	var mu Mutation
	mu.Set("content-type", "application/json")
	mu.Set("x-cpen-status", "rejected")
	mu.SetRetry(r.cause)
	if r.limit != nil {
		mu.SetRateLimit(*r.limit)
		retry := int64((r.limit.RetryAfter + time.Second - 1) / time.Second)
		mu.Set("retry-after", strconv.FormatInt(max(retry, 1), 10))
	}
	return immediateWith(mu, row.status, errorBody(row, r.detail), "cpen_"+row.code)
}

// SetRetry sets the x-should-retry guidance of cause, when it has one. The
// sidecar's own error answers carry it; a provider's error answer passes
// without it, for the provider's own headers to decide.
func (mu *Mutation) SetRetry(c Cause) {
	if v := c.Retry().Header(); v != "" {
		mu.Set(HeaderShouldRetry, v)
	}
}
