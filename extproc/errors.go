package extproc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// apiError is an HTTP error reply in both shapes clients read: a top-level
// detail and an OpenAI-style error object (README, Errors).
type apiError struct {
	status  int
	errType string
	code    string
	detail  string
	headers [][2]string
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

// classify finds the reply of a client error.
func classify(err error) (*apiError, bool) {
	var (
		fe   *routing.FieldError
		xe   *extract.FieldError
		se   *selector.Error
		big  *bodyTooLargeError
		rl   *rateLimitedError
		deep *tooDeepError
	)
	switch {
	case errors.Is(err, errUnauthorized):
		return &apiError{status: 401, errType: "authentication_error", code: "invalid_api_key", detail: "Missing or invalid API key"}, true
	case errors.As(err, &big):
		return &apiError{status: 413, errType: "invalid_request_error", code: "body_too_large",
			detail: fmt.Sprintf("Request body is over the limit of %d bytes", big.limit)}, true
	case errors.As(err, &xe):
		return &apiError{status: 400, errType: "invalid_request_error", code: xe.Code(), detail: xe.Error()}, true
	case errors.As(err, &fe):
		code := "invalid_request"
		if strings.HasPrefix(fe.Field, "routing") {
			code = "invalid_routing"
		}
		return &apiError{status: 400, errType: "invalid_request_error", code: code, detail: fe.Error()}, true
	case errors.Is(err, jsonbody.ErrMalformed):
		return &apiError{status: 400, errType: "invalid_request_error", code: "invalid_json", detail: "Request body is not valid JSON"}, true
	case errors.As(err, &deep):
		return &apiError{status: 400, errType: "invalid_request_error", code: "invalid_json",
			detail: fmt.Sprintf("Request body nests arrays and objects deeper than %d levels", deep.limit)}, true
	case errors.Is(err, jsonbody.ErrNotObject):
		return &apiError{status: 400, errType: "invalid_request_error", code: "invalid_json", detail: "Request body must be a JSON object"}, true
	case errors.Is(err, errEmptyBody):
		return &apiError{status: 400, errType: "invalid_request_error", code: "invalid_json", detail: "Request body is required"}, true
	case errors.Is(err, errModelMissing):
		return &apiError{status: 400, errType: "invalid_request_error", code: "invalid_model", detail: "model is required"}, true
	case errors.Is(err, errModelNotString):
		return &apiError{status: 400, errType: "invalid_request_error", code: "invalid_model", detail: "model must be a string"}, true
	case errors.Is(err, selector.ErrUnknownModel):
		alias := ""
		if errors.As(err, &se) {
			alias = se.Alias
		}
		return &apiError{status: 400, errType: "invalid_request_error", code: "unknown_model",
			detail: fmt.Sprintf("model %s is not a CPEN alias (use cpen/low, cpen/middle or cpen/high)", strconv.Quote(clip(alias, maxQuoted)))}, true
	case errors.Is(err, selector.ErrTierUnavailable):
		alias := ""
		if errors.As(err, &se) {
			alias = se.Alias
		}
		return &apiError{status: 503, errType: "service_unavailable", code: "tier_unavailable",
			detail: fmt.Sprintf("Tier %s is unavailable (planned, or no live route)", alias)}, true
	case errors.As(err, &rl):
		retry := int64((rl.adm.RetryAfter + time.Second - 1) / time.Second)
		if retry < 1 {
			retry = 1
		}
		return &apiError{status: 429, errType: "rate_limit_error", code: "rpm_cap_exceeded", detail: rl.Error(),
			headers: append(rateLimitHeaders(rl.adm), [2]string{"retry-after", strconv.FormatInt(retry, 10)})}, true
	case errors.Is(err, selector.ErrNoRouteUnderCap):
		return &apiError{status: 402, errType: "insufficient_budget", code: "no_route_under_budget", detail: "No route available under budget"}, true
	case errors.Is(err, errNotFound):
		return &apiError{status: 404, errType: "invalid_request_error", code: "not_found", detail: "No such endpoint"}, true
	case errors.Is(err, errMethod):
		return &apiError{status: 405, errType: "invalid_request_error", code: "method_not_allowed", detail: "Method not allowed on this endpoint"}, true
	case errors.Is(err, errClientAddressUnknown):
		return &apiError{status: 503, errType: "service_unavailable", code: "client_address_unknown",
			detail: "Client address unknown: the guest limit needs the address Envoy saw"}, true
	case errors.Is(err, errNotReady):
		return &apiError{status: 503, errType: "service_unavailable", code: "not_ready", detail: "Route service unavailable: no catalog loaded"}, true
	}
	return nil, false
}

// body renders {"detail": ..., "error": {...}}.
func (e *apiError) body() []byte {
	b := make([]byte, 0, 2*len(e.detail)+len(e.errType)+len(e.code)+64)
	b = append(b, `{"detail":`...)
	b = appendJSONString(b, e.detail)
	b = append(b, `,"error":{"message":`...)
	b = appendJSONString(b, e.detail)
	b = append(b, `,"type":"`...)
	b = append(b, e.errType...)
	b = append(b, `","code":"`...)
	b = append(b, e.code...)
	return append(b, `"}}`...)
}
