package stream

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
)

// Every cause has a full row in the error table, and no two causes share
// an error.code: a client tells refusals apart by it. The one exception is
// the tier pair, which differs in its retry guidance only.
func TestErrorTableComplete(t *testing.T) {
	seen := map[string]Cause{}
	for c := Cause(0); c < numCauses; c++ {
		r := refusals[c]
		if r.status < 400 || r.status > 599 || r.errType == "" || r.code == "" {
			t.Errorf("cause %d: incomplete row %+v", c, r)
		}
		if r.metric != "" && r.metric != r.code {
			t.Errorf("cause %d: metric label %q differs from code %q", c, r.metric, r.code)
		}
		if prev, ok := seen[r.code]; ok && !(prev == CauseTierUnavailable && c == CauseTierPlanned) {
			t.Errorf("causes %d and %d share code %q", prev, c, r.code)
		}
		seen[r.code] = c
	}
	planned, outage := refusals[CauseTierPlanned], refusals[CauseTierUnavailable]
	if planned.retry == outage.retry {
		t.Errorf("planned and unavailable tiers give the same retry guidance %d", planned.retry)
	}
	planned.retry = outage.retry
	if planned != outage {
		t.Errorf("planned tier row %+v differs from the unavailable tier's %+v beyond retry guidance", planned, outage)
	}
}

// Every cause's reply carries the x-should-retry value that says whether
// the same request can succeed later; a state report carries none. The
// want map names every cause, so a new row cannot go unchecked.
func TestRetryGuidance(t *testing.T) {
	want := map[Cause]string{
		CauseUnauthorized:         "false",
		CauseBodyTooLarge:         "false",
		CauseInvalidRequest:       "false",
		CauseInvalidRouting:       "false",
		CauseInvalidSchema:        "false",
		CauseInvalidJSON:          "false",
		CauseInvalidModel:         "false",
		CauseUnknownModel:         "false",
		CauseTierUnavailable:      "true",
		CauseTierPlanned:          "false",
		CauseRateLimited:          "true",
		CauseNoRouteUnderBudget:   "false",
		CauseInsufficientCredit:   "false",
		CauseStateUnavailable:     "true",
		CauseNotFound:             "false",
		CauseMethodNotAllowed:     "false",
		CauseClientAddressUnknown: "false",
		CauseNotReady:             "true",
		CauseInvalidOutput:        "false",
		CauseNoContent:            "true",
		CauseNoTierCanRoute:       "",
	}
	if len(want) != int(numCauses) {
		t.Fatalf("want names %d causes, the table has %d", len(want), numCauses)
	}
	for c := Cause(0); c < numCauses; c++ {
		t.Run(c.Code(), func(t *testing.T) {
			w, ok := want[c]
			if !ok {
				t.Fatalf("cause %d (%s) has no expected guidance", c, c.Code())
			}
			if got := c.Retry().Header(); got != w {
				t.Errorf("Retry().Header() = %q, want %q", got, w)
			}
			r := replyOf(t, errorReply(Refuse(c, "detail", nil)))
			got, set := r.headers[HeaderShouldRetry]
			if set != (w != "") || got != w {
				t.Errorf("reply header %s = %q (set %v), want %q", HeaderShouldRetry, got, set, w)
			}
			var mu Mutation
			mu.SetRetry(c)
			n := len(mu.m.GetSetHeaders())
			if w == "" && n != 0 || w != "" && (n != 1 || string(mu.m.GetSetHeaders()[0].GetHeader().GetRawValue()) != w) {
				t.Errorf("SetRetry set %v, want %q", mu.m.GetSetHeaders(), w)
			}
		})
	}
}

// bodyReader is a processor that reads a request body under a limit, and
// refuses at the headers what the test tells it to.
type bodyReader struct {
	PassThrough
	refuse error
}

func (b *bodyReader) RequestHeaders(*extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if b.refuse != nil {
		return nil, b.refuse
	}
	return b.x.Replies().RequestHeaders(nil), nil
}

var _ Processor = (*bodyReader)(nil)

// counted records the labels the transport counts refusals under.
type counted []string

var _ Metrics = (*counted)(nil)

func (c *counted) Rejected(code string) { *c = append(*c, code) }

func (c *counted) Processed(Phase, time.Duration) {}

// reply is an error reply as a client reads it.
type reply struct {
	status  int32
	headers map[string]string
	body    struct {
		Detail string `json:"detail"`
		Error  struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    string `json:"code"`
		} `json:"error"`
	}
}

func replyOf(t *testing.T, resp *extprocv3.ProcessingResponse) reply {
	t.Helper()
	ir := resp.GetImmediateResponse()
	if ir == nil {
		t.Fatalf("answer %v is not an ImmediateResponse", resp)
	}
	r := reply{status: int32(ir.GetStatus().GetCode()), headers: map[string]string{}}
	for _, h := range ir.GetHeaders().GetSetHeaders() {
		r.headers[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
	}
	if err := json.Unmarshal(ir.GetBody(), &r.body); err != nil {
		t.Fatalf("reply body %q: %v", ir.GetBody(), err)
	}
	return r
}

// The transport refuses a body over the processor's limit and an empty
// one before the processor sees it, answers each refusal with its row of
// the table, and counts it under its metric label; a refusal the client
// is not charged for (a state report) is not counted.
func TestRefusalReplies(t *testing.T) {
	limited := RateLimit{Limit: 2, Remaining: 0, Reset: 40 * time.Second, RetryAfter: 1500 * time.Millisecond}
	tests := []struct {
		name    string
		refuse  error // at the headers; nil: read the body
		body    string
		status  int32
		errType string
		code    string
		detail  string
		headers map[string]string
		metric  string
	}{
		{name: "over the limit", body: "12345678901", status: 413, errType: "invalid_request_error", code: "body_too_large",
			detail: "Request body is over the limit of 10 bytes", headers: map[string]string{"x-should-retry": "false"}, metric: "body_too_large"},
		{name: "empty body", body: "", status: 400, errType: "invalid_request_error", code: "invalid_json", detail: "Request body is required", metric: "invalid_json"},
		{name: "sentinel", refuse: ErrUnauthorized, status: 401, errType: "authentication_error", code: "invalid_api_key", detail: "Missing or invalid API key", metric: "invalid_api_key"},
		{name: "wrapped sentinel", refuse: errors.Join(errors.New("context"), ErrMethod), status: 405, errType: "invalid_request_error", code: "method_not_allowed",
			detail: "Method not allowed on this endpoint", metric: "method_not_allowed"},
		{name: "rate limited", refuse: RefuseRateLimited("slow down", limited, nil), status: 429, errType: "rate_limit_error", code: "rpm_cap_exceeded", detail: "slow down",
			headers: map[string]string{"x-should-retry": "true", "retry-after": "2", "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0",
				"x-ratelimit-reset-requests": "40s"}, metric: "rpm_cap_exceeded"},
		{name: "state report", refuse: Refuse(CauseNoContent, "nothing", nil), status: 502, errType: "upstream_error", code: "no_content", detail: "nothing",
			headers: map[string]string{"x-should-retry": "true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var metrics counted
			s := New(Config{Metrics: &metrics, Log: zap.NewNop(), IdleTimeout: time.Minute,
				NotFound: func(x *Exchange) Processor {
					x.SetBodyLimit(10)
					return &bodyReader{PassThrough: NewPassThrough(x), refuse: tc.refuse}
				}})
			x := s.Exchange(context.Background())
			defer s.Release(x)
			resp, err := x.Handle(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
				RequestHeaders: headers(false, ":path", "/any")}})
			if err == nil && tc.refuse == nil {
				if resp.GetRequestHeaders() == nil {
					t.Fatalf("request headers answered %v", resp)
				}
				resp, err = x.Handle(reqBody(tc.body))
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			r := replyOf(t, resp)
			b := r.body
			if r.status != tc.status || b.Error.Type != tc.errType || b.Error.Code != tc.code || b.Detail != tc.detail || b.Error.Message != tc.detail {
				t.Errorf("reply %d %+v, want %d %s %s %q", r.status, b, tc.status, tc.errType, tc.code, tc.detail)
			}
			if r.headers["content-type"] != "application/json" || r.headers["x-cpen-status"] != "rejected" {
				t.Errorf("headers %v", r.headers)
			}
			for k, v := range tc.headers {
				if r.headers[k] != v {
					t.Errorf("%s = %q, want %q", k, r.headers[k], v)
				}
			}
			want := []string(nil)
			if tc.metric != "" {
				want = []string{tc.metric}
			}
			if !slices.Equal(metrics, want) {
				t.Errorf("counted %q, want %q", metrics, want)
			}
		})
	}
}

// An error that is not the client's ends the stream instead of becoming a
// reply.
func TestOtherErrorsEndTheStream(t *testing.T) {
	boom := errors.New("boom")
	s := New(Config{Log: zap.NewNop(), IdleTimeout: time.Minute, NotFound: func(x *Exchange) Processor {
		return &bodyReader{PassThrough: NewPassThrough(x), refuse: boom}
	}})
	x := s.Exchange(context.Background())
	defer s.Release(x)
	resp, err := x.Handle(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: headers(false, ":path", "/any")}})
	if !errors.Is(err, boom) || resp != nil {
		t.Errorf("Handle = %v, %v; want boom", resp, err)
	}
}
