//go:build vtprotobuf

package stream

import (
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// Answers marshalled by the codec's generated path read back equal. The
// file builds only with the vtprotobuf tag, and fails if the generated
// marshaller is not compiled in: the reflection fallback is not what
// production runs.
func TestAnswerCodecRoundTrip(t *testing.T) {
	// The answers of one routed stream, built in the arena as processors
	// build them, and an error reply.
	var rp Replies
	var answers []*extprocv3.ProcessingResponse
	mu := rp.Mutation(AnswerRequestHeaders)
	mu.Remove("x-cpen-forged")
	answers = append(answers, rp.RequestHeaders(rp.Common(AnswerRequestHeaders, mu)))
	mu = rp.Mutation(AnswerRequestBody)
	mu.Remove("authorization")
	mu.Set("x-cpen-upstream-cluster", "cluster_a")
	mu.SetInt("content-length", 42)
	cr := rp.Common(AnswerRequestBody, mu)
	rp.WithBody(AnswerRequestBody, cr, []byte(`{"model":"upstream-mini","messages":[]}`))
	cr.ClearRouteCache = true
	answers = append(answers, rp.RequestBody(cr))
	mu = rp.Mutation(AnswerResponseHeaders)
	mu.Set("x-cpen-route-id", "route_mid_01")
	mu.SetRateLimit(RateLimit{Limit: 60, Remaining: 59})
	resp := rp.ResponseHeaders(rp.Common(AnswerResponseHeaders, mu))
	rp.StreamResponseBody(resp)
	answers = append(answers, resp)
	cr = rp.Common(AnswerResponseBody, rp.Mutation(AnswerResponseBody))
	rp.WithBody(AnswerResponseBody, cr, []byte("data: {}\n\n"))
	answers = append(answers, rp.ResponseBody(cr))
	answers = append(answers, errorReply(RefuseRateLimited("slow down", RateLimit{Limit: 2}, nil)))

	c, err := NewCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, vt := any(&extprocv3.ProcessingResponse{}).(vtMarshaler); !vt {
		t.Fatal("ProcessingResponse has no generated marshaller: the vtprotobuf tag did not reach go-control-plane")
	}
	for i, want := range answers {
		data, err := c.Marshal(want)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		got := &extprocv3.ProcessingResponse{}
		if err := proto.Unmarshal(data.Materialize(), got); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("answer %d differs after the codec:\ngot  %v\nwant %v", i, got, want)
		}
		data.Free()
	}
}
