package stream

import (
	"fmt"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// fillRequest builds every kind of answer, each with a body or a mode where
// it can have one, the header arena full and past it (32 options: the
// arena's 16 and 16 from the heap).
func fillRequest(r *Replies) {
	for _, a := range []Answer{AnswerRequestHeaders, AnswerRequestBody, AnswerResponseHeaders, AnswerResponseBody} {
		mu := r.Mutation(a)
		for i := range 8 {
			mu.Set(fmt.Sprintf("x-h%d", i), "some value")
			mu.Remove(fmt.Sprintf("x-r%d", i))
		}
		c := r.Common(a, mu)
		c.ClearRouteCache = true
		switch a {
		case AnswerRequestHeaders:
			r.RequestHeaders(c)
		case AnswerRequestBody:
			r.WithBody(a, c, []byte(`{}`))
			r.RequestBody(c)
		case AnswerResponseHeaders:
			r.StreamResponseBody(r.ResponseHeaders(c))
		case AnswerResponseBody:
			r.WithBody(a, c, []byte(`{"a":1}`))
			r.ResponseBody(c)
		}
	}
}

// lightRequest builds each answer with little or nothing in it, as a
// request that passes through untouched does.
func lightRequest(r *Replies) []*extprocv3.ProcessingResponse {
	mu := r.Mutation(AnswerRequestBody)
	mu.Set("x-one", "1")
	return []*extprocv3.ProcessingResponse{
		r.RequestHeaders(nil),
		r.RequestBody(r.Common(AnswerRequestBody, mu)),
		r.ResponseHeaders(r.Common(AnswerResponseHeaders, r.Mutation(AnswerResponseHeaders))),
		r.ResponseBody(nil),
	}
}

// A pooled exchange cannot carry a header, a body, a flag or a mode of one
// request into the next: after a request that filled every answer, the
// next one's answers are exactly those a fresh arena builds.
func TestRepliesResetLeavesNothingOfTheLastRequest(t *testing.T) {
	r := new(Replies)
	fillRequest(r)
	if r.nOpt != len(r.opts) || r.nRem != len(r.rems) {
		t.Fatalf("arena used %d options and %d removals, want it full (%d, %d)", r.nOpt, r.nRem, len(r.opts), len(r.rems))
	}
	r.reset()
	if r.bmb[0].Body != nil || r.bmb[1].Body != nil {
		t.Error("a reset arena still holds a body")
	}
	got, want := lightRequest(r), lightRequest(new(Replies))
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("answer %d after a full request:\n%v\nwant, as from a fresh arena:\n%v", i, got[i], want[i])
		}
	}
	// And the other way round: a full request after a light one.
	r.reset()
	fillRequest(r)
	fresh := new(Replies)
	fillRequest(fresh)
	for a := range fresh.resp {
		if !proto.Equal(&r.resp[a], &fresh.resp[a]) {
			t.Errorf("answer %d of a full request after a light one differs from a fresh arena's", a)
		}
	}
}

// Within one request, a STREAMED body's chunks reuse the body answer: a
// later chunk finds what the previous one left (as before), and only the
// first use of an answer in a request clears it.
func TestRepliesClaimOncePerRequest(t *testing.T) {
	r := new(Replies)
	c := r.Common(AnswerResponseBody, r.Mutation(AnswerResponseBody))
	r.WithBody(AnswerResponseBody, c, []byte("chunk 1"))
	first := r.ResponseBody(c)
	c2 := r.Common(AnswerResponseBody, r.Mutation(AnswerResponseBody))
	if c2 != c || string(c2.GetBodyMutation().GetBody()) != "chunk 1" {
		t.Fatalf("second use in the same request cleared the answer: %v", c2)
	}
	if r.ResponseBody(nil) != first || first.GetResponseBody().GetResponse() != nil {
		t.Fatalf("the chunk answer without a mutation still carries one: %v", first)
	}
	r.reset()
	if c3 := r.Common(AnswerResponseBody, r.Mutation(AnswerResponseBody)); c3.GetBodyMutation() != nil {
		t.Errorf("the next request's first use still holds the last request's body mutation: %v", c3)
	}
}
