package stream

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Replies holds the answers of one stream inline, so that building them
// allocates nothing per message. It is safe because Envoy sends at most one
// message per phase and Send has serialised an answer before the next
// message is read.
type Replies struct {
	resp    [4]extprocv3.ProcessingResponse
	reqH    extprocv3.ProcessingResponse_RequestHeaders
	reqB    extprocv3.ProcessingResponse_RequestBody
	resH    extprocv3.ProcessingResponse_ResponseHeaders
	resB    extprocv3.ProcessingResponse_ResponseBody
	hdr     [2]extprocv3.HeadersResponse
	body    [2]extprocv3.BodyResponse
	commons [4]extprocv3.CommonResponse
	hm      [4]extprocv3.HeaderMutation
	bm      [2]extprocv3.BodyMutation
	bmb     [2]extprocv3.BodyMutation_Body
	// streamed switches the response body to STREAMED (mode_override).
	// Envoy copies both body modes literally; the request side is over.
	streamed filterv3.ProcessingMode

	// Header arena: options, values and raw bytes handed out in order.
	// Sized for the most any request's answers use together (13 options,
	// 10 removals and 108 bytes of values across the end-to-end suites)
	// with room to spare; past it, entries come from the heap. Every
	// in-flight stream holds one, so a larger arena is resident memory.
	opts             [16]corev3.HeaderValueOption
	vals             [16]corev3.HeaderValue
	ptrs             [16]*corev3.HeaderValueOption
	rems             [16]string
	raw              [256]byte
	nOpt, nRem, nRaw int
	// claimed has bit a set once answer a's messages were cleared for
	// this request.
	claimed uint8
}

// reset readies the arena for the next request. The answers' messages are
// cleared where they are handed out, not here: with many requests in
// flight, the request side's entries have left the cache by the time a
// request ends, so clearing them then would fetch them once more only to
// write zeros that the next request's first use fetches again. What a
// parked arena must not keep alive is a body, so the body references go.
func (r *Replies) reset() {
	r.bmb[0].Body, r.bmb[1].Body = nil, nil
	r.nOpt, r.nRem, r.nRaw, r.claimed = 0, 0, 0, 0
}

// claim clears answer a's messages the first time a request uses them;
// later uses in the same request (a STREAMED body's chunks) find them as
// the previous chunk left them. Only the answer and its common part carry
// fields a request may leave unset; the messages under them are written
// whole where they are handed out.
func (r *Replies) claim(a Answer) {
	if r.claimed&(1<<a) != 0 {
		return
	}
	r.claimed |= 1 << a
	clear(r.resp[a : a+1])
	clear(r.commons[a : a+1])
}

// Answer names the message an answer is for; it indexes the per-answer
// storage.
type Answer int

// The answers a processor builds in the arena.
const (
	AnswerRequestHeaders Answer = iota
	AnswerRequestBody
	AnswerResponseHeaders
	AnswerResponseBody
)

// Mutation starts the header mutation of an answer. Build one mutation at
// a time: each takes the arena's free tail, and the next starts after it.
func (r *Replies) Mutation(a Answer) Mutation {
	r.claim(a)
	m := &r.hm[a]
	m.SetHeaders = r.ptrs[r.nOpt:r.nOpt:len(r.ptrs)]
	m.RemoveHeaders = r.rems[r.nRem:r.nRem:len(r.rems)]
	return Mutation{m: m, a: r}
}

// option returns a header entry with value copied into the arena; it falls
// back to the heap when the arena is full.
func (r *Replies) option(key, value string) *corev3.HeaderValueOption {
	return optionOf(r, key, value)
}

// optionBytes is option for a value held in bytes.
func (r *Replies) optionBytes(key string, value []byte) *corev3.HeaderValueOption {
	return optionOf(r, key, value)
}

func optionOf[T string | []byte](r *Replies, key string, value T) *corev3.HeaderValueOption {
	if r.nOpt == len(r.opts) {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: append([]byte(nil), value...)}}
	}
	// Entries are written whole, so nothing of a previous request's stays.
	hv := &r.vals[r.nOpt]
	*hv = corev3.HeaderValue{Key: key}
	if n := r.nRaw + len(value); n <= len(r.raw) {
		hv.RawValue = r.raw[r.nRaw:n:n]
		copy(hv.RawValue, value)
		r.nRaw = n
	} else {
		hv.RawValue = append([]byte(nil), value...)
	}
	return r.take(hv)
}

func (r *Replies) take(hv *corev3.HeaderValue) *corev3.HeaderValueOption {
	o := &r.opts[r.nOpt]
	*o = corev3.HeaderValueOption{Header: hv}
	r.nOpt++
	return o
}

// Common is the common part of an answer, carrying mu when it changes
// anything.
func (r *Replies) Common(a Answer, mu Mutation) *extprocv3.CommonResponse {
	r.claim(a)
	c := &r.commons[a]
	if len(mu.m.GetSetHeaders()) > 0 || len(mu.m.GetRemoveHeaders()) > 0 {
		c.HeaderMutation = mu.m
	}
	return c
}

// WithBody sets a replacement body on a body answer.
func (r *Replies) WithBody(a Answer, c *extprocv3.CommonResponse, body []byte) {
	r.claim(a)
	i := 0
	if a == AnswerResponseBody {
		i = 1
	}
	r.bmb[i].Body = body
	r.bm[i].Mutation = &r.bmb[i]
	c.BodyMutation = &r.bm[i]
}

// RequestHeaders answers the request headers with c (nil: continue unchanged).
func (r *Replies) RequestHeaders(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.claim(AnswerRequestHeaders)
	r.hdr[0].Response = c
	r.reqH.RequestHeaders = &r.hdr[0]
	r.resp[AnswerRequestHeaders].Response = &r.reqH
	return &r.resp[AnswerRequestHeaders]
}

// RequestBody answers the request body with c (nil: continue unchanged).
func (r *Replies) RequestBody(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.claim(AnswerRequestBody)
	r.body[0].Response = c
	r.reqB.RequestBody = &r.body[0]
	r.resp[AnswerRequestBody].Response = &r.reqB
	return &r.resp[AnswerRequestBody]
}

// ResponseHeaders answers the response headers with c (nil: continue unchanged).
func (r *Replies) ResponseHeaders(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.claim(AnswerResponseHeaders)
	r.hdr[1].Response = c
	r.resH.ResponseHeaders = &r.hdr[1]
	r.resp[AnswerResponseHeaders].Response = &r.resH
	return &r.resp[AnswerResponseHeaders]
}

// ResponseBody answers the response body with c (nil: continue unchanged).
func (r *Replies) ResponseBody(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.claim(AnswerResponseBody)
	r.body[1].Response = c
	r.resB.ResponseBody = &r.body[1]
	r.resp[AnswerResponseBody].Response = &r.resB
	return &r.resp[AnswerResponseBody]
}

// StreamResponseBody switches resp, the answer to the response headers,
// to a STREAMED response body.
func (r *Replies) StreamResponseBody(resp *extprocv3.ProcessingResponse) {
	r.streamed = filterv3.ProcessingMode{ResponseBodyMode: filterv3.ProcessingMode_STREAMED}
	resp.ModeOverride = &r.streamed
}
