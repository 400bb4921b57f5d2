package stream

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// inbox is where a stream's messages are decoded, kept with the pooled
// exchange: the request, its oneof, its header or body message, its header
// map and header entries are reused from one message to the next, so a
// message allocates only the copy of its bytes (which the strings and
// byte slices point into, and which no later message reuses). Processors
// see a message only during their call, and keep no pointer to its
// structure; what they keep of its bytes stays valid.
type inbox struct {
	req         extprocv3.ProcessingRequest
	reqHeaders  extprocv3.ProcessingRequest_RequestHeaders
	respHeaders extprocv3.ProcessingRequest_ResponseHeaders
	reqBody     extprocv3.ProcessingRequest_RequestBody
	respBody    extprocv3.ProcessingRequest_ResponseBody
	headers     extprocv3.HttpHeaders
	headerMap   corev3.HeaderMap
	body        extprocv3.HttpBody
	metadata    corev3.Metadata
	vals        []corev3.HeaderValue
	ptrs        []*corev3.HeaderValue
	// used is how many of vals the last message filled.
	used int
}

// The methods below hand out the inbox's structures cleared, or fresh ones
// on a nil inbox (a message decoded outside a stream's loop).

func (in *inbox) httpHeaders() *extprocv3.HttpHeaders {
	if in == nil {
		return new(extprocv3.HttpHeaders)
	}
	in.headers = extprocv3.HttpHeaders{}
	return &in.headers
}

func (in *inbox) httpBody() *extprocv3.HttpBody {
	if in == nil {
		return new(extprocv3.HttpBody)
	}
	in.body = extprocv3.HttpBody{}
	return &in.body
}

// emptyMetadata is the metadata_context Envoy sends when no filter wrote
// any, as it does on every message.
func (in *inbox) emptyMetadata() *corev3.Metadata {
	if in == nil {
		return new(corev3.Metadata)
	}
	in.metadata = corev3.Metadata{}
	return &in.metadata
}

// headerEntries returns n cleared header entries and a header map whose
// Headers point to them in order.
func (in *inbox) headerEntries(n int) (*corev3.HeaderMap, []corev3.HeaderValue) {
	if in == nil {
		vals := make([]corev3.HeaderValue, n)
		hm := &corev3.HeaderMap{Headers: make([]*corev3.HeaderValue, n)}
		for i := range vals {
			hm.Headers[i] = &vals[i]
		}
		return hm, vals
	}
	if n > len(in.vals) {
		// Room for exactly n: a pooled exchange's room grows to the most
		// headers one of its requests had, and a pool of them stays small.
		in.clearEntries()
		in.vals = make([]corev3.HeaderValue, n)
		in.ptrs = make([]*corev3.HeaderValue, len(in.vals))
		for i := range in.vals {
			in.ptrs[i] = &in.vals[i]
		}
	}
	in.clearEntries()
	in.used = n
	in.headerMap = corev3.HeaderMap{Headers: in.ptrs[:n:n]}
	return &in.headerMap, in.vals[:n]
}

// clearEntries clears the entries the last message filled: they point
// into its bytes.
func (in *inbox) clearEntries() {
	for i := range in.vals[:in.used] {
		in.vals[i] = corev3.HeaderValue{}
	}
	in.used = 0
}

// setOneof sets m's request to the header message h or the body message b
// as field num.
func (in *inbox) setOneof(m *extprocv3.ProcessingRequest, num int, h *extprocv3.HttpHeaders, b *extprocv3.HttpBody) {
	if in == nil {
		switch num {
		case fieldRequestHeaders:
			m.Request = &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: h}
		case fieldResponseHeaders:
			m.Request = &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: h}
		case fieldRequestBody:
			m.Request = &extprocv3.ProcessingRequest_RequestBody{RequestBody: b}
		default:
			m.Request = &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: b}
		}
		return
	}
	switch num {
	case fieldRequestHeaders:
		in.reqHeaders.RequestHeaders = h
		m.Request = &in.reqHeaders
	case fieldResponseHeaders:
		in.respHeaders.ResponseHeaders = h
		m.Request = &in.respHeaders
	case fieldRequestBody:
		in.reqBody.RequestBody = b
		m.Request = &in.reqBody
	default:
		in.respBody.ResponseBody = b
		m.Request = &in.respBody
	}
}

// reset drops every reference to the last message, so that a pooled
// exchange pins none of its bytes.
func (in *inbox) reset() {
	in.req.Reset()
	in.reqHeaders.RequestHeaders = nil
	in.respHeaders.ResponseHeaders = nil
	in.reqBody.RequestBody = nil
	in.respBody.ResponseBody = nil
	in.headers = extprocv3.HttpHeaders{}
	in.headerMap = corev3.HeaderMap{}
	in.body = extprocv3.HttpBody{}
	in.metadata = corev3.Metadata{}
	in.clearEntries()
}
