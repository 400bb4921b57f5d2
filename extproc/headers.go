package extproc

import (
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// headerBytes returns the first value of a lower-case header, without
// copying it.
func headerBytes(h *corev3.HeaderMap, key string) []byte {
	for _, hv := range h.GetHeaders() {
		if hv.GetKey() == key {
			if raw := hv.GetRawValue(); len(raw) > 0 {
				return raw
			}
			return []byte(hv.GetValue())
		}
	}
	return nil
}

// headerValue returns the first value of a lower-case header. Envoy sends
// values in raw_value; value is read only as a fallback.
func headerValue(h *corev3.HeaderMap, key string) string {
	for _, hv := range h.GetHeaders() {
		if hv.GetKey() == key {
			if raw := hv.GetRawValue(); len(raw) > 0 {
				return string(raw)
			}
			return hv.GetValue()
		}
	}
	return ""
}

// mutation collects header changes. Values go in raw_value only: Envoy
// ignores value (and rejects both set at once). With an arena (a) entries
// come from the stream's replies; without one, from the heap.
type mutation struct {
	m *extprocv3.HeaderMutation
	a *replies
}

func (mu *mutation) set(key, value string) {
	if mu.m == nil {
		mu.m = &extprocv3.HeaderMutation{}
	}
	var o *corev3.HeaderValueOption
	if mu.a != nil {
		o = mu.a.option(key, value)
	} else {
		o = &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: []byte(value)}}
	}
	mu.m.SetHeaders = append(mu.m.SetHeaders, o)
}

// setInt sets a decimal value, formatted into the arena when there is one.
func (mu *mutation) setInt(key string, n int) {
	if mu.a == nil {
		mu.set(key, strconv.Itoa(n))
		return
	}
	var buf [20]byte
	mu.m.SetHeaders = append(mu.m.SetHeaders, mu.a.optionBytes(key, strconv.AppendInt(buf[:0], int64(n), 10)))
}

func (mu *mutation) remove(key string) {
	if mu.m == nil {
		mu.m = &extprocv3.HeaderMutation{}
	}
	// The entry lands in the arena only while this mutation's slice still
	// has arena room; once it has spilled to the heap, the arena is full.
	if mu.a != nil && mu.a.nRem < len(mu.a.rems) && len(mu.m.RemoveHeaders) < cap(mu.m.RemoveHeaders) {
		mu.a.nRem++
	}
	mu.m.RemoveHeaders = append(mu.m.RemoveHeaders, key)
}

// setRateLimit adds the x-ratelimit-* headers that tell a client where its
// window stands, on routed answers and 429s alike.
func (mu *mutation) setRateLimit(a admission) {
	mu.setInt("x-ratelimit-limit-requests", a.Limit)
	mu.setInt("x-ratelimit-remaining-requests", a.Remaining)
	mu.set("x-ratelimit-reset-requests", seconds(a.Reset))
}

// immediate builds an ImmediateResponse with a JSON body.
func immediate(status int, body []byte, details string, headers [][2]string) *extprocv3.ProcessingResponse {
	var mu mutation
	mu.set("content-type", "application/json")
	for _, h := range headers {
		mu.set(h[0], h[1])
	}
	return immediateWith(mu, status, body, details)
}

// immediateWith builds an ImmediateResponse with the given headers.
func immediateWith(mu mutation, status int, body []byte, details string) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: mu.m,
			Body:    body,
			Details: details,
		},
	}}
}

// errorReply turns an API error into the sidecar's own error reply.
func errorReply(e *apiError) *extprocv3.ProcessingResponse {
	var mu mutation
	mu.set("content-type", "application/json")
	mu.set("x-cpen-status", "rejected")
	if e.limited != nil {
		mu.setRateLimit(*e.limited)
		retry := int64((e.limited.RetryAfter + time.Second - 1) / time.Second)
		mu.set("retry-after", strconv.FormatInt(max(retry, 1), 10))
	}
	return immediateWith(mu, e.status, e.body(), "cpen_"+e.code)
}

// atoi parses a small non-negative decimal such as a :status; 0 if malformed.
func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' || n > 1e6 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
