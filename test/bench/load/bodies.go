package load

import (
	"bytes"
	_ "embed" // the default bodies
	"strconv"
	"strings"
)

// The default bodies: a 2048-byte chat request for alias cpen/middle with
// a routing block, and a 600-byte chat.completion whose model is the
// upstream's name. Read them through DefaultRequest and DefaultResponse.
var (
	//go:embed testdata/chat_request.json
	defaultRequest []byte
	//go:embed testdata/chat_response.json
	defaultResponse []byte
)

// DefaultRequest returns a copy of the default 2 KiB chat request.
func DefaultRequest() []byte { return bytes.Clone(defaultRequest) }

// DefaultResponse returns a copy of the default 600-byte chat.completion.
func DefaultResponse() []byte { return bytes.Clone(defaultResponse) }

// UpstreamModel is the model name the response bodies carry, as a
// provider would send it back.
const UpstreamModel = "gpt-4o-mini"

// ChatRequest returns a chat request of exactly n bytes (or the smallest
// possible, about 330 bytes, when n is below that): the default request's
// model, routing block and system message, with a long user prompt.
func ChatRequest(n int) []byte {
	const (
		head = `{"model":"cpen/middle","routing":{"max_total_per_1m":"0.30","min_total_per_1m":"0.05","strategy":"balanced"},` +
			`"messages":[{"role":"system","content":"You are a concise assistant. Summarise the document below in five bullet points."},` +
			`{"role":"user","content":"`
		tail = `"}],"temperature":0.2,"max_tokens":512,"user":"bench-user-0001"}`
	)
	return padded(head, tail, n, `Section %d. Shipments rose again this quarter, while late deliveries fell; `+
		`the \"northern route\" remains the weak spot.\n`)
}

// ChatResponse returns a chat.completion of exactly n bytes (or the
// smallest possible, about 400 bytes): one long assistant message.
func ChatResponse(n int) []byte {
	const (
		head = `{"id":"chatcmpl-bench-0001","object":"chat.completion","created":1760000000,"model":"` + UpstreamModel + `",` +
			`"choices":[{"index":0,"message":{"role":"assistant","content":"`
		tail = `","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":51200,"completion_tokens":262144,"total_tokens":313344},` +
			`"service_tier":"default","system_fingerprint":"fp_bench"}`
	)
	return padded(head, tail, n, `Point %d: the volume grew steadily and the \"late\" share shrank; `+
		`claims stayed flat.\n`)
}

// padded fills head+tail up to n bytes with JSON string content made of
// numbered sentences (with escapes, as real text has), topped up with
// plain letters so no escape is cut.
func padded(head, tail string, n int, sentence string) []byte {
	var b strings.Builder
	b.Grow(max(n, len(head)+len(tail)))
	b.WriteString(head)
	room := n - len(head) - len(tail)
	for i := 1; room > 0; i++ {
		s := strings.Replace(sentence, "%d", strconv.Itoa(i), 1)
		if len(s) > room {
			s = strings.Repeat("x", room)
		}
		b.WriteString(s)
		room -= len(s)
	}
	b.WriteString(tail)
	return []byte(b.String())
}
