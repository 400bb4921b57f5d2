package extproc

import (
	"errors"
	"strconv"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/extract"
	"github.com/cpen/router/extproc/routing"
)

// extraction is the processor for POST /v1/extractions: the
// request becomes a structured-output chat completion, and the answer is
// validated against the caller's schema before it is returned.
type extraction struct{ *chat }

func (e extraction) requestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	c := e.chat
	x := c.x
	body := b.GetBody()
	req, err := extract.ParseRequest(body, extract.DefaultMaxSchemaBytes, x.rt.maxDepth)
	if err != nil {
		return nil, depthError(err, x.rt.maxDepth)
	}
	c.extraction = req
	if req.HasRouting {
		if c.block, err = routing.Parse(req.Routing); err != nil {
			return nil, err
		}
	}
	if err := c.decide([]byte(req.Model)); err != nil {
		return nil, err
	}
	x.bufs.req = append(x.bufs.req[:0], req.UpstreamBody(c.decision.Route.Model)...)
	return c.sendUpstream(x.bufs.req), nil
}

// responseBody turns the provider's chat completion into the extraction
// answer: 200 with the parsed output, 422 when it does not match the
// schema, 502 when the answer holds no content. Provider errors pass as
// they do for chat.
func (e extraction) responseBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	c := e.chat
	x := c.x
	if !c.decided || c.status >= 300 || !c.wholeBody(b) {
		return c.responseBody(b)
	}
	status := 200
	var out []byte
	res, err := c.extraction.Result(b.GetBody())
	var invalid *extract.InvalidOutputError
	switch {
	case err == nil:
		out = res.Body(c.decision.Tier.Alias, c.routeJSON)
	case errors.As(err, &invalid):
		r := refusals[causeInvalidOutput]
		status = r.status
		out = invalid.Body(c.decision.Tier.Alias, c.routeJSON, r.errType, r.code)
	default:
		e := newAPIError(causeNoContent, "The provider's answer held no usable content")
		status = e.status
		out = e.body()
	}
	c.status = status
	c.settle()
	mu := x.rp.mutation(phRespBody)
	if status != 200 {
		mu.set(":status", strconv.Itoa(status))
		mu.set("x-cpen-status", "failed")
	}
	mu.setInt("content-length", len(out))
	cr := x.rp.common(phRespBody, mu)
	x.rp.withBody(phRespBody, cr, out)
	return x.rp.responseBody(cr), nil
}
