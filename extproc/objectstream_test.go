package extproc

import (
	"strconv"
	"strings"
	"testing"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/envoytest"
)

// A large JSON answer (content-length over 64 KiB) is switched to
// STREAMED and edited as it passes: the chunk holding "model" carries the
// alias, chunks with nothing to edit go on without a body mutation, the
// last carries cpen_status, the receipt and cpen_route; joined, the
// client's body is what the buffered path makes of the whole answer.
func TestLargeAnswerStreamedWithoutWholeCopies(t *testing.T) {
	answer := envoytest.AnswerOfSize(300 << 10)
	length := strconv.Itoa(len(answer))

	// The buffered edit of the same answer, as the reference.
	small, _ := newTestServer(t, "testdata/catalog.yaml")
	ref := routed(t, small, seedRequest, respHeaders("200", "application/json"), respBody(answer))
	want := string(ref[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())

	const chunk = 16 << 10
	var msgs []*extprocv3.ProcessingRequest
	for i := 0; i < len(answer); i += chunk {
		end := min(i+chunk, len(answer))
		msgs = append(msgs, envoytest.RespChunk(answer[i:end], end == len(answer)))
	}
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := routed(t, s, seedRequest, append([]*extprocv3.ProcessingRequest{
		respHeaders("200", "application/json", "content-length", length)}, msgs...)...)

	if m := out[2].GetModeOverride(); m.GetResponseBodyMode() != filterv3.ProcessingMode_STREAMED {
		t.Fatalf("a %s-byte answer was not switched to STREAMED: %v", length, m)
	}
	if rh := mutationOf(out[2].GetResponseHeaders().GetResponse()); !contains(rh, "-content-length") {
		t.Errorf("content-length kept on an answer whose length changes: %q", rh)
	}
	var got strings.Builder
	mutated := 0
	for i, r := range out[3:] {
		c := r.GetResponseBody().GetResponse()
		if bm := c.GetBodyMutation(); bm != nil {
			mutated++
			got.Write(bm.GetBody())
		} else {
			got.WriteString(string(msgs[i].GetResponseBody().GetBody()))
		}
		if hm := c.GetHeaderMutation(); hm != nil {
			t.Errorf("chunk %d carries a header mutation: %v", i, hm)
		}
	}
	if got.String() != want {
		t.Errorf("streamed edit differs from the buffered one:\n got …%s\nwant …%s", tail(got.String()), tail(want))
	}
	if mutated != 2 {
		t.Errorf("%d of %d chunks mutated, want 2 (the model's and the last)", mutated, len(msgs))
	}
}

// A JSON answer at or under 64 KiB, or of unknown length, stays buffered.
func TestSmallAnswerStaysBuffered(t *testing.T) {
	for _, extra := range [][]string{{"content-length", strconv.Itoa(64 << 10)}, nil} {
		s, _ := newTestServer(t, "testdata/catalog.yaml")
		out := routed(t, s, seedRequest, respHeaders("200", "application/json", extra...), respBody(providerAnswer))
		if out[2].GetModeOverride() != nil {
			t.Errorf("headers %v: switched to STREAMED", extra)
		}
	}
}

func tail(s string) string { return s[max(0, len(s)-300):] }
