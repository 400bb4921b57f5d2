package extproc

import (
	"context"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/selector/state"
)

// chatOfSize returns a chat request of about n bytes with a routing block.
func chatOfSize(n int) string {
	head := `{"model":"cpen/middle","routing":{"max_total_per_1m":"0.30","min_total_per_1m":"0.05","strategy":"balanced"},"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"`
	tail := `"}],"temperature":0.2,"max_tokens":256}`
	return head + strings.Repeat("lorem ipsum ", max(0, n-len(head)-len(tail))/12) + tail
}

func answerOfSize(n int) string {
	head := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"upstream-mini","choices":[{"index":0,"message":{"role":"assistant","content":"`
	tail := `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	return head + strings.Repeat("dolor sit amet ", max(0, n-len(head)-len(tail))/15) + tail
}

// BenchmarkExchange drives one request through all four phases, without
// the gRPC transport.
func BenchmarkExchange(b *testing.B) {
	for _, size := range []struct {
		name      string
		req, resp int
	}{{"req=2KB/resp=600B", 2 << 10, 600}, {"req=1MB/resp=1MB", 1000 << 10, 1000 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			// The clock stands still, so the key's window would fill up:
			// admit everything rather than raise the catalog's limit.
			s, _ := newTestServer(b, "testdata/catalog.yaml", WithLimiter(unlimited{}))
			msgs := []*extprocv3.ProcessingRequest{
				reqHeaders("/v1/chat/completions", seedKey),
				reqBody(chatOfSize(size.req)),
				respHeaders("200", "application/json"),
				respBody(answerOfSize(size.resp)),
			}
			ctx := context.Background()
			b.SetBytes(int64(size.req + size.resp))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x := s.stream.Exchange(ctx)
				for j, m := range msgs {
					resp, err := x.Handle(m)
					if err != nil {
						b.Fatal(err)
					}
					if j == 1 && resp.GetRequestBody() == nil {
						b.Fatal("not routed")
					}
				}
				s.stream.Release(x)
			}
		})
	}
}

// unlimited admits every request.
type unlimited struct{}

var _ RateLimiter = unlimited{}

func (unlimited) Admit(context.Context, string, int, time.Time) state.Admission {
	return state.Admission{Allowed: true}
}

func (unlimited) Peek(context.Context, string, int, time.Time) state.Admission {
	return state.Admission{Allowed: true}
}
