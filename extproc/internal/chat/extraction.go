package chat

import (
	"errors"
	"github.com/cpen/router/extproc/credit"
	"strconv"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/extract"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/routing"
	"github.com/cpen/router/selector"
)

// extraction is the processor for POST /v1/extractions: the
// request becomes a structured-output chat completion, and the answer is
// validated against the caller's schema before it is returned.
type extraction struct{ *chat }

// RequestBody parses the extraction request and sends it to its provider
// as a chat completion.
func (e extraction) RequestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	resp, err := e.requestBody(b)
	if err != nil {
		e.refusedMetadata()
	}
	return resp, refuse(err)
}

func (e extraction) requestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	c := e.chat
	body := b.GetBody()
	req, err := extract.ParseRequest(body, extract.DefaultMaxSchemaBytes, c.v.MaxDepth)
	if err != nil {
		return nil, depthError(err, c.v.MaxDepth)
	}
	c.extraction = req
	if c.cfg.Tracer != nil {
		c.startSpan(c.aliasOf([]byte(req.Model)))
	}
	if req.HasRouting {
		if c.block, err = routing.Parse(req.Routing); err != nil {
			return nil, err
		}
	}
	// The provider is sent a chat body built from the request: that body,
	// not the client's, bounds the prompt. Its model name is not prompt.
	c.credit.bound = credit.Of(req.UpstreamBody(""), c.reserveSettings())
	if err := c.decide([]byte(req.Model)); err != nil {
		return nil, err
	}
	c.bufs.req.b = append(c.bufs.req.b[:0], req.UpstreamBody(c.decision.Route.Model)...)
	return c.sendUpstream(c.bufs.req.b), nil
}

// ResponseBody turns the provider's chat completion into the extraction
// answer: 200 with the parsed output, 422 when it does not match the
// schema, 502 when the answer holds no content. Provider errors pass as
// they do for chat.
func (e extraction) ResponseBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	c := e.chat
	if !c.decided || c.status >= 300 || !c.wholeBody(b) {
		return c.ResponseBody(b)
	}
	status := 200
	var out []byte
	c.noteUsage(b.GetBody())
	cost := selector.FormatPrice(c.costDecimal())
	res, err := c.extraction.Result(b.GetBody())
	var invalid *extract.InvalidOutputError
	switch {
	case err == nil:
		out = res.Body(c.decision.Tier.Alias, cost, c.routeJSON)
	case errors.As(err, &invalid):
		cause := stream.CauseInvalidOutput
		status = cause.Status()
		out = invalid.Body(c.decision.Tier.Alias, cost, c.routeJSON, cause.Type(), cause.Code())
	default:
		status = stream.CauseNoContent.Status()
		out = stream.ErrorBody(stream.CauseNoContent, "The provider's answer held no usable content")
	}
	c.status = status
	c.settle()
	rp := c.x.Replies()
	mu := rp.Mutation(stream.AnswerResponseBody)
	switch status {
	case stream.CauseInvalidOutput.Status():
		mu.Set(":status", strconv.Itoa(status))
		mu.Set("x-cpen-status", "invalid_output")
		mu.SetRetry(stream.CauseInvalidOutput)
	case stream.CauseNoContent.Status():
		mu.Set(":status", strconv.Itoa(status))
		mu.Set("x-cpen-status", "failed")
		mu.SetRetry(stream.CauseNoContent)
	}
	mu.SetInt("content-length", len(out))
	cr := rp.Common(stream.AnswerResponseBody, mu)
	rp.WithBody(stream.AnswerResponseBody, cr, out)
	return rp.ResponseBody(cr), nil
}
