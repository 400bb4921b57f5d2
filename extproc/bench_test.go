package extproc

import (
	"context"
	"github.com/cpen/router/extproc/internal/envoytest"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/selector/state"
)

var (
	chatOfSize   = envoytest.ChatOfSize
	answerOfSize = envoytest.AnswerOfSize
)

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
