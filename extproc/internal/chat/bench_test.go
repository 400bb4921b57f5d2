package chat

import (
	"context"
	"errors"
	"github.com/cpen/router/extproc/internal/envoytest"
	"testing"

	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/jsonbody"
	"github.com/cpen/router/extproc/routing"
)

var (
	chatOfSize   = envoytest.ChatOfSize
	answerOfSize = envoytest.AnswerOfSize
)

func BenchmarkRequestRewrite(b *testing.B) {
	for _, n := range []int{2 << 10, 1 << 20} {
		body := []byte(chatOfSize(n))
		b.Run(sizeName(n), func(b *testing.B) {
			s := newTestServer(b)
			x := s.Exchange(context.Background())
			c := &chat{x: x, v: newVersion(b), cfg: &Config{Buffers: new(BigBuffers)}}
			var cb chatBody
			if err := parseChatBody(body, 64, &cb, nil); err != nil {
				b.Fatal(err)
			}
			c.decision.Route, _ = c.v.Index.RouteByID("route_mid_01")
			c.upstream = c.v.Providers["prov_a"]
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cb = chatBody{}
				_ = parseChatBody(body, 64, &cb, c.members[:0])
				_ = c.dispatch(body, &cb)
			}
		})
	}
}

func BenchmarkResponseRewrite(b *testing.B) {
	for _, n := range []int{2 << 10, 1 << 20} {
		body := []byte(answerOfSize(n))
		b.Run(sizeName(n), func(b *testing.B) {
			v := newVersion(b)
			c := &chat{v: v, cfg: &Config{Buffers: new(BigBuffers)}}
			c.decision.Route, _ = v.Index.RouteByID("route_mid_01")
			c.decision.Tier, _ = v.Index.Tier("cpen/middle")
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
		err := parseChatBody(body, 64, &cb, nil)
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
		var r *stream.Refusal
		if !errors.As(refuse(err), &r) || r.Cause().Status() != 400 {
			t.Fatalf("error %v does not map to a 400", err)
		}
	})
}
