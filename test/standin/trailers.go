package standin

import (
	"net/http"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Trailers end a body early. When the codec hands the ext_proc filter
// trailers, the body's last data went by with end_stream false: a BUFFERED
// body is sent with end_of_stream false (and not at all if no data came),
// a STREAMED body has no end_of_stream chunk, and only with trailer mode
// SEND does a trailers message follow, once the body's answers are in
// (Filter::onTrailers; ProcessorState's body callbacks). With SKIP nothing
// tells the server that the body is complete.
//
// What the stand-in does not do: it passes no trailers on, neither request
// trailers upstream nor response trailers to the client. Its upstreams are
// HTTP/1.1 and the project's Envoy enables no HTTP/1 trailers, so Envoy
// would drop them too; only what the ext_proc server sees is reproduced.

// requestTrailers returns the trailers the codec delivered with the client's
// request, nil if none; call it only after the body ended. Go's HTTP/2
// server keeps only trailers announced in a Trailer header; its HTTP/1
// server keeps them all.
func (t *txn) requestTrailers() *headerMap {
	if t.r.ProtoMajor < 2 && !t.p.cfg.HTTP1Trailers {
		return nil
	}
	return trailerMap(t.r.Trailer)
}

// trailerMap converts Go's trailers; keys announced but never sent carry no
// value and do not count.
func trailerMap(src http.Header) *headerMap {
	present := http.Header{}
	for k, vs := range src {
		if len(vs) > 0 {
			present[k] = vs
		}
	}
	if len(present) == 0 {
		return nil
	}
	h := &headerMap{}
	h.appendSorted(present, nil)
	return h
}

func trailersRequest(kind msgKind, tr *headerMap) *extprocv3.ProcessingRequest {
	t := &extprocv3.HttpTrailers{Trailers: tr.proto()}
	if kind == kindRequestTrailers {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{RequestTrailers: t}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: t}}
}

// exchangeTrailers sends the trailers message of kind and applies its
// answer's header mutation to tr.
func (t *txn) exchangeTrailers(kind msgKind, tr *headerMap) outcome {
	res, ready := t.ensureStream()
	if !ready {
		return res
	}
	t.send(kind, trailersRequest(kind, tr))
	res = t.await()
	if res.kind != outAnswer {
		return res
	}
	hm := res.resp.GetRequestTrailers().GetHeaderMutation()
	if kind == kindResponseTrailers {
		hm = res.resp.GetResponseTrailers().GetHeaderMutation()
	}
	if hm != nil {
		if err := t.mutate(hm, tr, mutateOptions{}); err != nil {
			return t.mutationFailed(err)
		}
	}
	t.closeIfLast(kind, false)
	return outcome{kind: outAnswer}
}
