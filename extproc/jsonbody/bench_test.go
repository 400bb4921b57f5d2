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
