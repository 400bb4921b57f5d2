package stream

import (
	"fmt"
	"reflect"
	"testing"
)

// After reset, an arena that built every kind of answer, its header arena
// full and past it, is the zero arena again (but for the raw bytes, which
// are only ever read through values set afresh): a pooled exchange cannot
// carry a header, a body or a mode of one request into the next.
func TestRepliesResetClearsEverythingUsed(t *testing.T) {
	r := new(Replies)
	for _, a := range []Answer{AnswerRequestHeaders, AnswerRequestBody, AnswerResponseHeaders, AnswerResponseBody} {
		mu := r.Mutation(a)
		for i := range 8 { // 32 options in all: the arena's 24 and 8 from the heap
			mu.Set(fmt.Sprintf("x-h%d", i), "some value")
			mu.Remove(fmt.Sprintf("x-r%d", i))
		}
		c := r.Common(a, mu)
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
	if r.nOpt != len(r.opts) || r.nRem != len(r.rems) {
		t.Fatalf("arena used %d options and %d removals, want it full (%d, %d)", r.nOpt, r.nRem, len(r.opts), len(r.rems))
	}
	r.reset()
	r.raw = [len(r.raw)]byte{}
	if !reflect.DeepEqual(r, new(Replies)) {
		t.Error("after reset the arena still holds a request's answers")
	}
}
