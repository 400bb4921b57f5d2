package extproc

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// replies holds the answers of one stream inline, so that building them
// allocates nothing per message. It is safe because Envoy sends at most one
// message per phase and Send has serialised an answer before the next
// message is read.
type replies struct {
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
	opts             [24]corev3.HeaderValueOption
	vals             [24]corev3.HeaderValue
	ptrs             [24]*corev3.HeaderValueOption
	rems             [32]string
	raw              [768]byte
	nOpt, nRem, nRaw int
}

// Phases index the per-phase storage.
const (
	phReqHeaders = iota
	phReqBody
	phRespHeaders
	phRespBody
)

// mutation starts the header mutation of a phase. Build one mutation at a
// time: each takes the arena's free tail, and the next starts after it.
func (r *replies) mutation(ph int) mutation {
	m := &r.hm[ph]
	m.SetHeaders = r.ptrs[r.nOpt:r.nOpt:len(r.ptrs)]
	m.RemoveHeaders = r.rems[r.nRem:r.nRem:len(r.rems)]
	return mutation{m: m, a: r}
}

// option returns a header entry with value copied into the arena; it falls
// back to the heap when the arena is full.
func (r *replies) option(key, value string) *corev3.HeaderValueOption {
	return optionOf(r, key, value)
}

// optionBytes is option for a value held in bytes.
func (r *replies) optionBytes(key string, value []byte) *corev3.HeaderValueOption {
	return optionOf(r, key, value)
}

func optionOf[T string | []byte](r *replies, key string, value T) *corev3.HeaderValueOption {
	if r.nOpt == len(r.opts) {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: append([]byte(nil), value...)}}
	}
	hv := &r.vals[r.nOpt]
	hv.Key = key
	if n := r.nRaw + len(value); n <= len(r.raw) {
		hv.RawValue = r.raw[r.nRaw:n:n]
		copy(hv.RawValue, value)
		r.nRaw = n
	} else {
		hv.RawValue = append([]byte(nil), value...)
	}
	return r.take(hv)
}

func (r *replies) take(hv *corev3.HeaderValue) *corev3.HeaderValueOption {
	o := &r.opts[r.nOpt]
	o.Header = hv
	r.nOpt++
	return o
}

func (r *replies) common(ph int, mu mutation) *extprocv3.CommonResponse {
	c := &r.commons[ph]
	if len(mu.m.GetSetHeaders()) > 0 || len(mu.m.GetRemoveHeaders()) > 0 {
		c.HeaderMutation = mu.m
	}
	return c
}

// withBody sets a replacement body on a body-phase answer.
func (r *replies) withBody(ph int, c *extprocv3.CommonResponse, body []byte) {
	i := 0
	if ph == phRespBody {
		i = 1
	}
	r.bmb[i].Body = body
	r.bm[i].Mutation = &r.bmb[i]
	c.BodyMutation = &r.bm[i]
}

func (r *replies) requestHeaders(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.hdr[0].Response = c
	r.reqH.RequestHeaders = &r.hdr[0]
	r.resp[phReqHeaders].Response = &r.reqH
	return &r.resp[phReqHeaders]
}

func (r *replies) requestBody(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.body[0].Response = c
	r.reqB.RequestBody = &r.body[0]
	r.resp[phReqBody].Response = &r.reqB
	return &r.resp[phReqBody]
}

func (r *replies) responseHeaders(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.hdr[1].Response = c
	r.resH.ResponseHeaders = &r.hdr[1]
	r.resp[phRespHeaders].Response = &r.resH
	return &r.resp[phRespHeaders]
}

func (r *replies) responseBody(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	r.body[1].Response = c
	r.resB.ResponseBody = &r.body[1]
	r.resp[phRespBody].Response = &r.resB
	return &r.resp[phRespBody]
}
