package extproc

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

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
// ignores value (and rejects both set at once).
type mutation struct{ m *extprocv3.HeaderMutation }

func (mu *mutation) set(key, value string) {
	if mu.m == nil {
		mu.m = &extprocv3.HeaderMutation{}
	}
	mu.m.SetHeaders = append(mu.m.SetHeaders, &corev3.HeaderValueOption{
		Header: &corev3.HeaderValue{Key: key, RawValue: []byte(value)},
	})
}

func (mu *mutation) remove(key string) {
	if mu.m == nil {
		mu.m = &extprocv3.HeaderMutation{}
	}
	mu.m.RemoveHeaders = append(mu.m.RemoveHeaders, key)
}

// rateLimitHeaders renders the x-ratelimit-* headers of an admission.
func rateLimitHeaders(a admission) [][2]string {
	return [][2]string{
		{"x-ratelimit-limit-requests", strconv.Itoa(a.Limit)},
		{"x-ratelimit-remaining-requests", strconv.Itoa(a.Remaining)},
		{"x-ratelimit-reset-requests", seconds(a.Reset)},
	}
}

// immediate builds an ImmediateResponse with a JSON body.
func immediate(status int, body []byte, details string, headers [][2]string) *extprocv3.ProcessingResponse {
	var mu mutation
	mu.set("content-type", "application/json")
	for _, h := range headers {
		mu.set(h[0], h[1])
	}
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
	headers := append([][2]string{{"x-cpen-status", "rejected"}}, e.headers...)
	return immediate(e.status, e.body(), "cpen_"+e.code, headers)
}

func continueRequestHeaders(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: c}}}
}

func continueRequestBody(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
		RequestBody: &extprocv3.BodyResponse{Response: c}}}
}

func continueResponseHeaders(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
		ResponseHeaders: &extprocv3.HeadersResponse{Response: c}}}
}

func continueResponseBody(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
		ResponseBody: &extprocv3.BodyResponse{Response: c}}}
}
