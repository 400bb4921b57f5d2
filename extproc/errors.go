package extproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cpen/router/extproc/extract"
	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/routing"
	"github.com/cpen/router/selector"
)

// Errors the request path returns; apiError maps each to its HTTP reply.
var (
	errUnauthorized         = errors.New("missing or invalid API key")
	errNotFound             = errors.New("no such endpoint")
	errMethod               = errors.New("method not allowed")
	errEmptyBody            = errors.New("request body is required")
	errNotReady             = errors.New("no catalog loaded")
	errClientAddressUnknown = errors.New("client address unknown")
	errProtocol             = errors.New("ext_proc message out of order")
	errModelMissing         = errors.New("model is required")
	errModelNotString       = errors.New("model must be a string")
)

// bodyTooLargeError carries the limit for the 413 detail.
type bodyTooLargeError struct{ size, limit int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("request body of %d bytes is over the limit of %d bytes", e.size, e.limit)
}

// tooDeepError carries the nesting bound for the 400 detail.
type tooDeepError struct{ limit int }

func (e *tooDeepError) Error() string {
	return fmt.Sprintf("body nests arrays and objects deeper than %d levels", e.limit)
}

func (e *tooDeepError) Unwrap() error { return jsonbody.ErrTooDeep }

// depthError gives a nesting refusal its bound; other errors pass as they
// are.
func depthError(err error, limit int) error {
	if errors.Is(err, jsonbody.ErrTooDeep) {
		return &tooDeepError{limit: limit}
	}
	return err
}

// rateLimitedError carries the admission that was refused.
type rateLimitedError struct {
	who       string // "key key_demo", "guest 10.0.0.1"
	limit     int
	clientCap bool // the limit came from the request's rpm_cap
	adm       admission
}

func (e *rateLimitedError) Error() string {
	src := "the key's limit"
	if e.clientCap {
		src = "routing.rpm_cap"
	}
	return fmt.Sprintf("rate limit of %d requests per minute exceeded for %s (%s)", e.limit, e.who, src)
}

// cause is why the sidecar answers a request itself with an error.
type cause uint8

const (
	causeUnauthorized cause = iota
	causeBodyTooLarge
	causeInvalidRequest
	causeInvalidRouting
	causeInvalidSchema
	causeInvalidJSON
	causeInvalidModel
	causeUnknownModel
	causeTierUnavailable
	causeRateLimited
	causeNoRouteUnderBudget
	causeNotFound
	causeMethodNotAllowed
	causeClientAddressUnknown
	causeNotReady
	causeInvalidOutput
	causeNoContent
	causeNoTierCanRoute
	numCauses
)

// refusal is a row of the error table: the HTTP status, error.type and
// error.code of the reply, and the label it is counted under in
// cpen_rejected_total (empty: not counted, the answer is not a refusal of
// the request but a state report).
type refusal struct {
	status  int
	errType string
	code    string
	metric  string
}

// refusals is the error table: every error reply the sidecar builds takes
// its status, type and code from here.
var refusals = [numCauses]refusal{
	causeUnauthorized:         {401, "authentication_error", "invalid_api_key", "invalid_api_key"},
	causeBodyTooLarge:         {413, "invalid_request_error", "body_too_large", "body_too_large"},
	causeInvalidRequest:       {400, "invalid_request_error", "invalid_request", "invalid_request"},
	causeInvalidRouting:       {400, "invalid_request_error", "invalid_routing", "invalid_routing"},
	causeInvalidSchema:        {400, "invalid_request_error", "invalid_schema", "invalid_schema"},
	causeInvalidJSON:          {400, "invalid_request_error", "invalid_json", "invalid_json"},
	causeInvalidModel:         {400, "invalid_request_error", "invalid_model", "invalid_model"},
	causeUnknownModel:         {400, "invalid_request_error", "unknown_model", "unknown_model"},
	causeTierUnavailable:      {503, "service_unavailable", "tier_unavailable", "tier_unavailable"},
	causeRateLimited:          {429, "rate_limit_error", "rpm_cap_exceeded", "rpm_cap_exceeded"},
	causeNoRouteUnderBudget:   {402, "insufficient_budget", "no_route_under_budget", "no_route_under_budget"},
	causeNotFound:             {404, "invalid_request_error", "not_found", "not_found"},
	causeMethodNotAllowed:     {405, "invalid_request_error", "method_not_allowed", "method_not_allowed"},
	causeClientAddressUnknown: {503, "service_unavailable", "client_address_unknown", "client_address_unknown"},
	causeNotReady:             {503, "service_unavailable", "not_ready", "not_ready"},
	// The extraction answers come after the provider's: the request was
	// served, so they are not counted as refusals.
	causeInvalidOutput:  {422, "invalid_request_error", "invalid_output", ""},
	causeNoContent:      {502, "upstream_error", "no_content", ""},
	causeNoTierCanRoute: {503, "service_unavailable", "no_tier_can_route", ""},
}

// apiError is an HTTP error reply in both shapes clients read: a top-level
// detail and an OpenAI-style error object.
type apiError struct {
	refusal
	detail string
	// limited is the refused admission of a 429, rendered as the
	// x-ratelimit-* and retry-after headers.
	limited *admission
}

// newAPIError is the reply of a cause with its detail.
func newAPIError(c cause, detail string) *apiError {
	return &apiError{refusal: refusals[c], detail: detail}
}

// toAPIError is the one place where an error becomes an HTTP status. The
// bool is false for errors that are not the client's: those become a gRPC
// error, and Envoy's failure mode decides.
func toAPIError(err error) (*apiError, bool) {
	e, ok := classify(err)
	if ok {
		e.detail = clip(e.detail, maxDetail)
	}
	return e, ok
}

// classify finds the cause and detail of a client error.
func classify(err error) (*apiError, bool) {
	var (
		fe   *routing.FieldError
		xe   *extract.FieldError
		se   *selector.Error
		big  *bodyTooLargeError
		rl   *rateLimitedError
		deep *tooDeepError
	)
	if !errors.As(err, &se) {
		se = &selector.Error{}
	}
	switch {
	case errors.Is(err, errUnauthorized):
		return newAPIError(causeUnauthorized, "Missing or invalid API key"), true
	case errors.As(err, &big):
		return newAPIError(causeBodyTooLarge, fmt.Sprintf("Request body is over the limit of %d bytes", big.limit)), true
	case errors.As(err, &xe):
		if xe.Code() == refusals[causeInvalidSchema].code {
			return newAPIError(causeInvalidSchema, xe.Error()), true
		}
		return newAPIError(causeInvalidRequest, xe.Error()), true
	case errors.As(err, &fe):
		if strings.HasPrefix(fe.Field, "routing") {
			return newAPIError(causeInvalidRouting, fe.Error()), true
		}
		return newAPIError(causeInvalidRequest, fe.Error()), true
	case errors.Is(err, jsonbody.ErrMalformed):
		return newAPIError(causeInvalidJSON, "Request body is not valid JSON"), true
	case errors.As(err, &deep):
		return newAPIError(causeInvalidJSON, fmt.Sprintf("Request body nests arrays and objects deeper than %d levels", deep.limit)), true
	case errors.Is(err, jsonbody.ErrNotObject):
		return newAPIError(causeInvalidJSON, "Request body must be a JSON object"), true
	case errors.Is(err, errEmptyBody):
		return newAPIError(causeInvalidJSON, "Request body is required"), true
	case errors.Is(err, errModelMissing):
		return newAPIError(causeInvalidModel, "model is required"), true
	case errors.Is(err, errModelNotString):
		return newAPIError(causeInvalidModel, "model must be a string"), true
	case errors.Is(err, selector.ErrUnknownModel):
		return newAPIError(causeUnknownModel, fmt.Sprintf("model %s is not a CPEN alias (use %s)",
			strconv.Quote(clip(se.Alias, maxQuoted)), orList(se.Known))), true
	case errors.Is(err, selector.ErrTierUnavailable):
		return newAPIError(causeTierUnavailable, fmt.Sprintf("Tier %s is unavailable (planned, or no live route)", se.Alias)), true
	case errors.As(err, &rl):
		e := newAPIError(causeRateLimited, rl.Error())
		e.limited = &rl.adm
		return e, true
	case errors.Is(err, selector.ErrNoRouteUnderCap):
		return newAPIError(causeNoRouteUnderBudget, "No route available under budget"), true
	case errors.Is(err, errNotFound):
		return newAPIError(causeNotFound, "No such endpoint"), true
	case errors.Is(err, errMethod):
		return newAPIError(causeMethodNotAllowed, "Method not allowed on this endpoint"), true
	case errors.Is(err, errClientAddressUnknown):
		return newAPIError(causeClientAddressUnknown, "Client address unknown: the guest limit needs the address Envoy saw"), true
	case errors.Is(err, errNotReady):
		return newAPIError(causeNotReady, "Route service unavailable: no catalog loaded"), true
	}
	return nil, false
}

// orList renders aliases as "a", "a or b", "a, b or c".
func orList(aliases []string) string {
	switch n := len(aliases); n {
	case 0:
		return "an alias of the catalog"
	case 1:
		return aliases[0]
	default:
		return strings.Join(aliases[:n-1], ", ") + " or " + aliases[n-1]
	}
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

// body renders {"detail": ..., "error": {...}}.
func (e *apiError) body() []byte {
	return marshalReply(replyBody{Detail: e.detail, Error: errorObject{Message: e.detail, Type: e.errType, Code: e.code}})
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
