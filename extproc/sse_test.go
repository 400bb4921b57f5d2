package extproc

import (
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

func respChunk(body string, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: eos}}}
}

const upstreamSSE = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"upstream-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"upstream-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hé\"}}],\"usage\":null}\n\n" +
	": keep-alive\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"upstream-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n" +
	"data: [DONE]\n\n"

// streamRequest routes a "stream": true request and returns the server and
// the answer to its response headers.
func streamRequest(t *testing.T, msgs ...*extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	t.Helper()
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	req := strings.Replace(seedRequest, `"temperature":0.2`, `"stream":true`, 1)
	all := append([]*extprocv3.ProcessingRequest{reqHeaders("/v1/chat/completions", seedKey), reqBody(req),
		respHeaders("200", "text/event-stream", "content-length", "999")}, msgs...)
	return run(t, s, all...)
}

// The answer to the response headers switches the body to STREAMED and
// drops content-length; the upstream request asks for the usage chunk.
func TestStreamSwitch(t *testing.T) {
	out := streamRequest(t, respChunk(upstreamSSE, true))
	body := string(out[1].GetRequestBody().GetResponse().GetBodyMutation().GetBody())
	if !strings.HasSuffix(body, `"stream":true,"stream_options":{"include_usage":true}}`) {
		t.Errorf("upstream body %s", body)
	}
	mo := out[2].GetModeOverride()
	if mo.GetResponseBodyMode().String() != "STREAMED" {
		t.Errorf("mode override %v", mo)
	}
	if got := mutationOf(out[2].GetResponseHeaders().GetResponse()); !contains(got, "-content-length") {
		t.Errorf("response header mutation %q", got)
	}
}

// However the stream is cut into chunks, the bytes forwarded are the same:
// model → alias everywhere, cpen_route on the first data chunk, cpen_status
// on the usage chunk, comments and [DONE] untouched.
func TestStreamChunkSplits(t *testing.T) {
	whole := streamRequest(t, respChunk(upstreamSSE, true))
	want := string(whole[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	events := strings.Split(strings.TrimSuffix(want, "\n\n"), "\n\n")
	if len(events) != 5 || strings.Contains(want, "upstream-mini") || strings.Count(want, `"model":"cpen/middle"`) != 3 ||
		!strings.Contains(events[0], `"cpen_route":{`) || strings.Contains(events[1], "cpen_") || events[2] != ": keep-alive" ||
		!strings.Contains(events[3], `"cpen_status":"completed"`) || events[4] != "data: [DONE]" {
		t.Fatalf("rewritten stream:\n%s", want)
	}
	crlf := strings.ReplaceAll(upstreamSSE, "\n", "\r\n")
	wantCRLF := strings.ReplaceAll(want, "\n", "\r\n")
	for _, tc := range []struct{ name, in, want string }{{"lf", upstreamSSE, want}, {"crlf", crlf, wantCRLF}} {
		for i := 1; i < len(tc.in); i += 7 {
			for _, j := range []int{i, min(i+40, len(tc.in))} {
				out := streamRequest(t, respChunk(tc.in[:i], false), respChunk(tc.in[i:j], false), respChunk(tc.in[j:], false), respChunk("", true))
				var got strings.Builder
				for _, a := range out[3:] {
					bm := a.GetResponseBody().GetResponse().GetBodyMutation()
					if bm == nil {
						t.Fatalf("%s split %d/%d: a chunk was passed unedited", tc.name, i, j)
					}
					got.Write(bm.GetBody())
				}
				if got.String() != tc.want {
					t.Fatalf("%s split at %d/%d:\ngot  %q\nwant %q", tc.name, i, j, got.String(), tc.want)
				}
			}
		}
	}
}

// A provider that sends no usage chunk still ends with cpen_status, in a
// chunk of the sidecar's own before [DONE].
func TestStreamWithoutUsage(t *testing.T) {
	noUsage := "data: {\"id\":\"c\",\"model\":\"upstream-mini\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n"
	out := streamRequest(t, respChunk(noUsage, true))
	got := string(out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	events := strings.Split(strings.TrimSuffix(got, "\n\n"), "\n\n")
	if len(events) != 3 || !strings.Contains(events[0], "cpen_route") ||
		events[1] != `data: {"object":"chat.completion.chunk","model":"cpen/middle","choices":[],"cpen_status":"completed"}` ||
		events[2] != "data: [DONE]" {
		t.Errorf("stream:\n%s", got)
	}
}
