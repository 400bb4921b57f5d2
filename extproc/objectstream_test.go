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
// STREAMED and edited as it passes, read at its head and tail only: the
// first chunk, which holds "model", carries the alias; the middle goes on
// without a body mutation; the last 16 KiB are held back and walked from
// the closing brace, so the chunk across their start goes on as its part
// before them, chunks wholly inside them are sent empty, and the last
// carries the whole tail with cpen_status, the receipt (priced on the
// usage found there) and cpen_route. Joined, the client's body is what the
// buffered path makes of the whole answer.
func TestLargeAnswerStreamedWithoutWholeCopies(t *testing.T) {
	answer := envoytest.AnswerOfSize(300 << 10)
	length := strconv.Itoa(len(answer))
	held := len(answer) - 16<<10 // where the held tail starts

	// The buffered edit of the same answer, as the reference.
	small, _ := newTestServer(t, "testdata/catalog.yaml")
	ref := routed(t, small, seedRequest, respHeaders("200", "application/json"), respBody(answer))
	want := string(ref[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())

	tests := []struct {
		name  string
		chunk int
		// mutated lists the chunks sent with a body mutation, and what
		// each became when it is not the first or the last.
		mutated map[int]string
	}{
		// 19 chunks, the last of 12 KiB: chunk 17 runs across the held
		// tail's start, chunk 18 ends the answer.
		{"16 KiB chunks", 16 << 10, map[int]string{0: "", 17: answer[17*16<<10 : held], 18: ""}},
		// 62 chunks: chunk 58 runs across the held tail's start, 59 and
		// 60 lie wholly in it, 61 ends the answer.
		{"5000-byte chunks", 5000, map[int]string{0: "", 58: answer[58*5000 : held], 59: "", 60: "", 61: ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []*extprocv3.ProcessingRequest
			for i := 0; i < len(answer); i += tc.chunk {
				end := min(i+tc.chunk, len(answer))
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
				bm := c.GetBodyMutation()
				wantBody, wantMutated := tc.mutated[i]
				if (bm != nil) != wantMutated {
					t.Errorf("chunk %d of %d: mutated %v, want %v", i, len(msgs), bm != nil, wantMutated)
				}
				if bm != nil {
					mutated++
					got.Write(bm.GetBody())
					if i != 0 && i != len(msgs)-1 && string(bm.GetBody()) != wantBody {
						t.Errorf("chunk %d became %d bytes, want %d", i, len(bm.GetBody()), len(wantBody))
					}
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
			if mutated != len(tc.mutated) {
				t.Errorf("%d of %d chunks mutated, want %d", mutated, len(msgs), len(tc.mutated))
			}
		})
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
