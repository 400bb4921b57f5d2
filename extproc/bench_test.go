package extproc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/routing"
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
			b.SetBytes(int64(size.req + size.resp))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x := s.newExchange()
				for _, m := range msgs {
					if _, err := x.handle(m); err != nil {
						b.Fatal(err)
					}
				}
				if chatOf(b, x).decision.Route == nil {
					b.Fatal("no route")
				}
				s.release(x)
			}
		})
	}
}

// unlimited admits every request.
type unlimited struct{}

func (unlimited) Admit(context.Context, string, int, time.Time) admission {
	return admission{Allowed: true}
}

func (unlimited) Peek(context.Context, string, int, time.Time) admission {
	return admission{Allowed: true}
}

func BenchmarkRequestRewrite(b *testing.B) {
	for _, n := range []int{2 << 10, 1 << 20} {
		body := []byte(chatOfSize(n))
		b.Run(sizeName(n), func(b *testing.B) {
			s, _ := newTestServer(b, "testdata/catalog.yaml")
			x := &exchange{srv: s, log: s.log, rt: s.rt.Load(), path: "/v1/chat/completions"}
			c := &chat{x: x}
			var cb chatBody
			if err := parseChatBody(body, 64, &cb); err != nil {
				b.Fatal(err)
			}
			c.decision.Route, _ = x.rt.index.RouteByID("route_mid_01")
			c.upstream = x.rt.providers["prov_a"]
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cb = chatBody{}
				_ = parseChatBody(body, 64, &cb)
				_ = c.dispatch(body, &cb)
			}
		})
	}
}

func BenchmarkResponseRewrite(b *testing.B) {
	for _, n := range []int{2 << 10, 1 << 20} {
		body := []byte(answerOfSize(n))
		b.Run(sizeName(n), func(b *testing.B) {
			s, _ := newTestServer(b, "testdata/catalog.yaml")
			out := run(b, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(seedRequest))
			if out[1].GetRequestBody() == nil {
				b.Fatal("not routed")
			}
			x := &exchange{srv: s, log: s.log, rt: s.rt.Load()}
			c := &chat{x: x}
			c.decision.Route, _ = x.rt.index.RouteByID("route_mid_01")
			c.decision.Tier, _ = x.rt.index.Tier("cpen/middle")
			c.routeJSON = []byte(`{"alias":"cpen/middle"}`)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c.rewriteJSON(body, "completed") == nil {
					b.Fatal("not rewritten")
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return "1MB"
	}
	return "2KB"
}

// FuzzParseRequestBody: any body gives a parsed request or a typed client
// error (a 4xx), never a panic.
func FuzzParseRequestBody(f *testing.F) {
	f.Add([]byte(seedRequest))
	f.Add([]byte(`{"model":"cpen/low","routing":null}`))
	f.Add([]byte(`{"model":"cpen/low","routing":{"rpm_cap":6e1}}`))
	f.Add([]byte(`{"mod\u0065l":"x","model":"y"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var cb chatBody
		err := parseChatBody(body, 64, &cb)
		if err == nil && cb.hasRouting {
			_, err = routing.Parse(cb.routing.Value(body))
		}
		if err == nil {
			if cb.model.ValEnd == 0 {
				t.Fatal("accepted without a model")
			}
			return
		}
		var fe *routing.FieldError
		if !errors.As(err, &fe) && !errors.Is(err, jsonbody.ErrMalformed) && !errors.Is(err, jsonbody.ErrNotObject) &&
			!errors.Is(err, errModelMissing) && !errors.Is(err, errModelNotString) {
			t.Fatalf("untyped error %v", err)
		}
		if e, ok := toAPIError(err); !ok || e.status != 400 {
			t.Fatalf("error %v does not map to a 400", err)
		}
	})
}
