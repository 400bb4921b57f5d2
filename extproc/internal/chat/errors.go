package chat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/extract"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/routing"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// Errors of the chat path; refuse gives each its reply.
var (
	errClientAddressUnknown = errors.New("client address unknown")
	errModelMissing         = errors.New("model is required")
	errModelNotString       = errors.New("model must be a string")
)

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
	who       string // "key key_demo", "guest address 10.0.0.1"
	limit     int
	clientCap bool // the limit came from the request's rpm_cap
	guest     bool // a guest's: its limit is the catalog's guest_rpm
	adm       state.Admission
}

func (e *rateLimitedError) Error() string {
	src := "the key's limit"
	switch {
	case e.clientCap:
		src = "routing.rpm_cap"
	case e.guest:
		src = "the guest limit"
	}
	return fmt.Sprintf("rate limit of %d requests per minute exceeded for %s (%s)", e.limit, e.who, src)
}

// rateLimit is an admission as the x-ratelimit-* headers tell it.
func rateLimit(a state.Admission) stream.RateLimit {
	return stream.RateLimit{Limit: a.Limit, Remaining: a.Remaining, Reset: a.Reset, RetryAfter: a.RetryAfter}
}

// refuse gives a client error of the chat path the cause and detail it is
// answered with; errors the transport knows (stream.Err*) and errors that
// are not the client's pass as they are.
func refuse(err error) error {
	if err == nil {
		return nil
	}
	var (
		fe     *routing.FieldError
		xe     *extract.FieldError
		se     *selector.Error
		rl     *rateLimitedError
		deep   *tooDeepError
		credit *insufficientCreditError
	)
	if !errors.As(err, &se) {
		se = &selector.Error{}
	}
	switch {
	case errors.As(err, &xe):
		if xe.Code() == stream.CauseInvalidSchema.Code() {
			return stream.Refuse(stream.CauseInvalidSchema, xe.Error(), err)
		}
		return stream.Refuse(stream.CauseInvalidRequest, xe.Error(), err)
	case errors.As(err, &fe):
		if strings.HasPrefix(fe.Field, "routing") {
			return stream.Refuse(stream.CauseInvalidRouting, fe.Error(), err)
		}
		return stream.Refuse(stream.CauseInvalidRequest, fe.Error(), err)
	case errors.Is(err, jsonbody.ErrMalformed):
		return stream.Refuse(stream.CauseInvalidJSON, "Request body is not valid JSON", err)
	case errors.As(err, &deep):
		return stream.Refuse(stream.CauseInvalidJSON, fmt.Sprintf("Request body nests arrays and objects deeper than %d levels", deep.limit), err)
	case errors.Is(err, jsonbody.ErrNotObject):
		return stream.Refuse(stream.CauseInvalidJSON, "Request body must be a JSON object", err)
	case errors.Is(err, errModelMissing):
		return stream.Refuse(stream.CauseInvalidModel, "model is required", err)
	case errors.Is(err, errModelNotString):
		return stream.Refuse(stream.CauseInvalidModel, "model must be a string", err)
	case errors.Is(err, selector.ErrUnknownModel):
		return stream.Refuse(stream.CauseUnknownModel, fmt.Sprintf("model %s is not a CPEN alias (use %s)",
			strconv.Quote(clip(se.Alias, maxQuoted)), orList(se.Known)), err)
	case errors.Is(err, selector.ErrTierUnavailable):
		return stream.Refuse(tierCause(se.Status), fmt.Sprintf("Tier %s is unavailable (planned, or no live route)", se.Alias), err)
	case errors.As(err, &rl):
		return stream.RefuseRateLimited(rl.Error(), rateLimit(rl.adm), err)
	case errors.As(err, &credit):
		return stream.Refuse(stream.CauseInsufficientCredit, credit.Error(), err)
	case errors.Is(err, errSharedState):
		return stream.Refuse(stream.CauseStateUnavailable, "Shared state unavailable: rate limits cannot be checked until it answers; retry shortly", err)
	case errors.Is(err, errLedger):
		return stream.Refuse(stream.CauseStateUnavailable, "Credit ledger unavailable: requests of keys with credit are refused until it answers", err)
	case errors.Is(err, selector.ErrNoRouteUnderCap):
		return stream.Refuse(stream.CauseNoRouteUnderBudget, "No route available under budget", err)
	case errors.Is(err, errClientAddressUnknown):
		return stream.Refuse(stream.CauseClientAddressUnknown, "Client address unknown: the guest limit needs the address Envoy saw", err)
	}
	return err
}

// tierCause is the cause of a tier that cannot route: a planned tier will
// not open by retrying, while an outage or a tier whose routes are all
// down may recover within a client's retry.
func tierCause(status config.TierStatus) stream.Cause {
	if status == config.TierPlanned {
		return stream.CauseTierPlanned
	}
	return stream.CauseTierUnavailable
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
