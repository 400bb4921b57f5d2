package jsonbody

import (
	"os"
	"strings"
	"testing"

	"github.com/cpen/router/test/bench/load"
)

// benchBodies are the shapes Validate sees on the request path: a typical
// chat request, the load generator's request (prose with an escaped quote
// or newline every few dozen bytes) at 2 KiB and 1 MiB, one long prompt,
// many short messages (structure-heavy), a prompt full of escapes (source
// code), and a hostile nesting bomb.
func benchBodies(b *testing.B) []struct {
	name string
	body []byte
} {
	b.Helper()
	chat, err := os.ReadFile("testdata/chat_request.json")
	if err != nil {
		b.Fatal(err)
	}
	const size = 1 << 20
	head := `{"model":"cpen/middle","messages":[{"role":"user","content":"`
	tail := `"}],"temperature":0.2}`
	long := head + strings.Repeat("lorem ipsum ", (size-len(head)-len(tail))/12) + tail
	code := head + strings.Repeat(`if (x) {\n\treturn \"[ok]\";\n}\n`, (size-len(head)-len(tail))/32) + tail
	msg := `{"role":"user","content":"short line 42"},`
	many := `{"model":"cpen/middle","messages":[` + strings.Repeat(msg, size/len(msg)) + `{"role":"user","content":"end"}],"temperature":0.2}`
	return []struct {
		name string
		body []byte
	}{
		{"chat=2KB", chat},
		{"load=2KB", load.ChatRequest(2 << 10)},
		{"load=1MB", load.ChatRequest(size)},
		{"long=1MB", []byte(long)},
		{"code=1MB", []byte(code)},
		{"many=1MB", []byte(many)},
		{"deep=1MB", []byte(strings.Repeat("[", size))},
	}
}

func BenchmarkValidate(b *testing.B) {
	for _, bb := range benchBodies(b) {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				_ = Validate(bb.body, DefaultMaxDepth)
			}
		})
	}
}

// A provider's usual answer, walked for its members: the lenient shape
// check against the validating pass.
func BenchmarkAnswerMembers(b *testing.B) {
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1717000000,"model":"upstream-mini",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France. It has been the capital since the tenth century, with brief interruptions, and it is the seat of the government.","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":42,"completion_tokens":18,"total_tokens":60,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},` +
		`"service_tier":"default","system_fingerprint":"fp_0123456789"}`)
	buf := make([]Member, 0, 16)
	b.Run("shape", func(b *testing.B) {
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			buf, _ = ShapeMembers(answer, buf)
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			buf, _ = ValidateMembers(answer, MaxDepthCeiling, buf)
		}
	})
}

// The load generator's 200 KiB chat request: prose whose plain runs end at
// an escape every few dozen bytes, the shape the string scan is tuned for.
// It is one fixed body so that an instruction count taken over b.N runs
// divides cleanly into instructions per byte.
func BenchmarkValidate200K(b *testing.B) {
	body := load.ChatRequest(200 << 10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(body, DefaultMaxDepth); err != nil {
			b.Fatal(err)
		}
	}
}
