package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cpen/router/extproc/quote"
)

// Errors a processor returns for the refusals every endpoint shares; the
// transport answers each with its reply.
var (
	ErrUnauthorized = errors.New("missing or invalid API key")
	ErrNotFound     = errors.New("no such endpoint")
	ErrMethod       = errors.New("method not allowed")
	ErrEmptyBody    = errors.New("request body is required")
	ErrNotReady     = errors.New("no catalog loaded")
)

// errProtocol is a message out of Envoy's order: not the client's doing,
// so a gRPC error, and Envoy fails the request closed.
var errProtocol = errors.New("ext_proc message out of order")

// bodyTooLargeError carries the limit for the 413 detail.
type bodyTooLargeError struct{ size, limit int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("request body of %d bytes is over the limit of %d bytes", e.size, e.limit)
}

// Cause is why the sidecar answers a request itself with an error.
type Cause uint8

// The causes, each a row of the error table.
const (
	CauseUnauthorized Cause = iota
	CauseBodyTooLarge
	CauseInvalidRequest
	CauseInvalidRouting
	CauseInvalidSchema
	CauseInvalidJSON
	CauseInvalidModel
	CauseUnknownModel
	CauseTierUnavailable
	CauseTierPlanned
	CauseRateLimited
	CauseNoRouteUnderBudget
	CauseInsufficientCredit
	CauseStateUnavailable
	CauseNotFound
	CauseMethodNotAllowed
	CauseClientAddressUnknown
	CauseNotReady
	CauseInvalidOutput
	CauseNoContent
	CauseNoTierCanRoute
	numCauses
)

// Retry is the x-should-retry guidance of a reply: whether the same
// request sent again can succeed. The OpenAI SDKs read the header before
// their own status rules, so "false" spares the client retries (and their
// Retry-After waits) that cannot help, and "true" keeps the ones that can.
type Retry uint8

// The guidance values.
const (
	// RetryUnset sends no header: the reply is a state report, not an
	// answer to a request a client would resend.
	RetryUnset Retry = iota
	// RetryNever: the same request gets the same answer.
	RetryNever
	// RetryLater: the same request can succeed once the window, the route
	// or the sidecar's state has moved on.
	RetryLater
)

// Header is the x-should-retry value of r; empty for RetryUnset.
func (r Retry) Header() string {
	switch r {
	case RetryNever:
		return "false"
	case RetryLater:
		return "true"
	}
	return ""
}

// HeaderShouldRetry names the retry guidance header.
const HeaderShouldRetry = "x-should-retry"

// refusal is a row of the error table: the HTTP status, error.type and
// error.code of the reply, the label it is counted under in
// cpen_requests_rejected_total (empty: not counted, the answer is not a refusal of
// the request but a state report), and its retry guidance.
type refusal struct {
	status  int
	errType string
	code    string
	metric  string
	retry   Retry
}

// refusals is the error table: every error reply the sidecar builds takes
// its status, type, code and retry guidance from here.
var refusals = [numCauses]refusal{
	CauseUnauthorized:   {401, "authentication_error", "invalid_api_key", "invalid_api_key", RetryNever},
	CauseBodyTooLarge:   {413, "invalid_request_error", "body_too_large", "body_too_large", RetryNever},
	CauseInvalidRequest: {400, "invalid_request_error", "invalid_request", "invalid_request", RetryNever},
	CauseInvalidRouting: {400, "invalid_request_error", "invalid_routing", "invalid_routing", RetryNever},
	CauseInvalidSchema:  {400, "invalid_request_error", "invalid_schema", "invalid_schema", RetryNever},
	CauseInvalidJSON:    {400, "invalid_request_error", "invalid_json", "invalid_json", RetryNever},
	CauseInvalidModel:   {400, "invalid_request_error", "invalid_model", "invalid_model", RetryNever},
	CauseUnknownModel:   {400, "invalid_request_error", "unknown_model", "unknown_model", RetryNever},
	// A tier with no live route (outage, every route ejected) can come
	// back within a retry's wait; a planned tier cannot. Clients see one
	// code and tell the two apart by the retry guidance.
	CauseTierUnavailable:    {503, "service_unavailable", "tier_unavailable", "tier_unavailable", RetryLater},
	CauseTierPlanned:        {503, "service_unavailable", "tier_unavailable", "tier_unavailable", RetryNever},
	CauseRateLimited:        {429, "rate_limit_error", "rpm_cap_exceeded", "rpm_cap_exceeded", RetryLater},
	CauseNoRouteUnderBudget: {402, "insufficient_budget", "no_route_under_budget", "no_route_under_budget", RetryNever},
	CauseInsufficientCredit: {402, "insufficient_budget", "insufficient_credit", "insufficient_credit", RetryNever},
	CauseStateUnavailable:   {503, "service_unavailable", "state_unavailable", "state_unavailable", RetryLater},
	CauseNotFound:           {404, "invalid_request_error", "not_found", "not_found", RetryNever},
	CauseMethodNotAllowed:   {405, "invalid_request_error", "method_not_allowed", "method_not_allowed", RetryNever},
	// Retrying does not give a request the address Envoy did not send.
	CauseClientAddressUnknown: {503, "service_unavailable", "client_address_unknown", "client_address_unknown", RetryNever},
	CauseNotReady:             {503, "service_unavailable", "not_ready", "not_ready", RetryLater},
	// The extraction answers come after the provider's: the request was
	// served, so they are not counted as refusals. The same output fails
	// the same schema again; an empty answer may not repeat.
	CauseInvalidOutput:  {422, "invalid_request_error", "invalid_output", "", RetryNever},
	CauseNoContent:      {502, "upstream_error", "no_content", "", RetryLater},
	CauseNoTierCanRoute: {503, "service_unavailable", "no_tier_can_route", "", RetryUnset},
}

func (c Cause) row() refusal { return refusals[c] }

// Status is the HTTP status of the cause's reply.
func (c Cause) Status() int { return refusals[c].status }

// Type is the error.type of the cause's reply.
func (c Cause) Type() string { return refusals[c].errType }

// Code is the error.code of the cause's reply.
func (c Cause) Code() string { return refusals[c].code }

// Retry is the retry guidance of the cause's reply.
func (c Cause) Retry() Retry { return refusals[c].retry }

// MaxDetail bounds a whole error detail: a client cannot make a refusal
// body or its log line larger than this by sending a large value.
const MaxDetail = 512

// Refusal is a client error: the request is answered with the error reply
// of its cause and detail instead of going on.
type Refusal struct {
	cause  Cause
	detail string
	// limit is the refused window of a 429, rendered as the x-ratelimit-*
	// and retry-after headers.
	limit *RateLimit
	err   error
}

// Refuse is the refusal of err, the client's error, answered with the
// reply of cause and detail (cut to MaxDetail bytes).
func Refuse(cause Cause, detail string, err error) *Refusal {
	return &Refusal{cause: cause, detail: quote.Prefix(detail, MaxDetail), err: err}
}

// RefuseRateLimited is the 429 refusal of err, which tells the client
// where its window stands.
func RefuseRateLimited(detail string, limit RateLimit, err error) *Refusal {
	r := Refuse(CauseRateLimited, detail, err)
	r.limit = &limit
	return r
}

func (r *Refusal) Error() string {
	if r.err != nil {
		return r.err.Error()
	}
	return r.detail
}

// Unwrap returns the client error refused.
func (r *Refusal) Unwrap() error { return r.err }

// Cause is why the request is refused.
func (r *Refusal) Cause() Cause { return r.cause }

// refusalOf is the one place where an error becomes an HTTP status. The
// bool is false for errors that are not the client's: those become a gRPC
// error, and Envoy's failure mode decides.
func refusalOf(err error) (*Refusal, bool) {
	var (
		r   *Refusal
		big *bodyTooLargeError
	)
	switch {
	case errors.As(err, &r):
		return r, true
	case errors.Is(err, ErrUnauthorized):
		return Refuse(CauseUnauthorized, "Missing or invalid API key", err), true
	case errors.As(err, &big):
		return Refuse(CauseBodyTooLarge, fmt.Sprintf("Request body is over the limit of %d bytes", big.limit), err), true
	case errors.Is(err, ErrEmptyBody):
		return Refuse(CauseInvalidJSON, "Request body is required", err), true
	case errors.Is(err, ErrNotFound):
		return Refuse(CauseNotFound, "No such endpoint", err), true
	case errors.Is(err, ErrMethod):
		return Refuse(CauseMethodNotAllowed, "Method not allowed on this endpoint", err), true
	case errors.Is(err, ErrNotReady):
		return Refuse(CauseNotReady, "Route service unavailable: no catalog loaded", err), true
	}
	return nil, false
}

// errorObject is the OpenAI-style error object.
type errorObject struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}

// replyBody is the body of every error reply: the detail, and the same
// text in an OpenAI-style error object.
type replyBody struct {
	Detail string      `json:"detail"`
	Error  errorObject `json:"error"`
}

// ErrorBody renders the error reply body of cause with detail:
// {"detail": ..., "error": {...}}.
func ErrorBody(cause Cause, detail string) []byte {
	return errorBody(cause.row(), detail)
}

func errorBody(row refusal, detail string) []byte {
	return marshalReply(replyBody{Detail: detail, Error: errorObject{Message: detail, Type: row.errType, Code: row.code}})
}

// marshalReply renders a reply body. A client's text stays as written
// ("<" is not "\u003c"); the values are strings and raw JSON already
// checked, so encoding cannot fail.
func marshalReply(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"detail":"reply could not be rendered"}`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
