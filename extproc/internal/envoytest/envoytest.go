// Package envoytest plays Envoy's side of ext_proc streams in tests: the
// messages Envoy sends for one HTTP request, and a stream that feeds them
// to a server and keeps its answers.
package envoytest

import (
	"context"
	"io"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Stream is one ext_proc stream as the server sees it: Recv returns In in
// order, then io.EOF (Envoy closing its side); Send keeps each answer.
type Stream struct {
	grpc.ServerStream
	In  []*extprocv3.ProcessingRequest
	Out []*extprocv3.ProcessingResponse
}

var _ extprocv3.ExternalProcessor_ProcessServer = (*Stream)(nil)

// Context is never done: the stream ends when In runs out.
func (f *Stream) Context() context.Context { return context.Background() }

// Recv returns the next scripted message.
func (f *Stream) Recv() (*extprocv3.ProcessingRequest, error) {
	if len(f.In) == 0 {
		return nil, io.EOF
	}
	r := f.In[0]
	f.In = f.In[1:]
	return r, nil
}

// Send keeps a copy: gRPC serialises an answer before Send returns, and the
// server reuses its answer storage afterwards.
func (f *Stream) Send(r *extprocv3.ProcessingResponse) error {
	f.Out = append(f.Out, proto.Clone(r).(*extprocv3.ProcessingResponse))
	return nil
}

// Headers is a header map of key, value pairs, values as raw bytes as
// Envoy sends them.
func Headers(eos bool, kv ...string) *extprocv3.HttpHeaders {
	h := &corev3.HeaderMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Headers = append(h.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocv3.HttpHeaders{Headers: h, EndOfStream: eos}
}

// ReqHeaders are the request headers of a JSON POST to path, with the
// key as a bearer token unless it is empty.
func ReqHeaders(path, key string) *extprocv3.ProcessingRequest {
	kv := []string{":method", "POST", ":path", path, ":authority", "localhost:10000", ":scheme", "http",
		"content-type", "application/json", "accept-encoding", "gzip", "x-request-id", "req-1"}
	if key != "" {
		kv = append(kv, "authorization", "Bearer "+key)
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: Headers(false, kv...)}}
}

// ReqBody is a whole request body.
func ReqBody(body string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}}}
}

// RespHeaders are response headers with a status, a content type and
// more key, value pairs.
func RespHeaders(status, ctype string, extra ...string) *extprocv3.ProcessingRequest {
	kv := append([]string{":status", status, "content-type", ctype}, extra...)
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: Headers(false, kv...)}}
}

// RespBody is a whole response body.
func RespBody(body string) *extprocv3.ProcessingRequest { return RespChunk(body, true) }

// RespChunk is one chunk of a streamed response body.
func RespChunk(body string, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: eos}}}
}

// ChatOfSize is a chat request of about n bytes with a routing block.
func ChatOfSize(n int) string {
	head := `{"model":"cpen/middle","routing":{"max_total_per_1m":"0.30","min_total_per_1m":"0.05","strategy":"balanced"},"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"`
	tail := `"}],"temperature":0.2,"max_tokens":256}`
	return head + strings.Repeat("lorem ipsum ", max(0, n-len(head)-len(tail))/12) + tail
}

// AnswerOfSize is a provider's chat completion of about n bytes.
func AnswerOfSize(n int) string {
	head := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"upstream-mini","choices":[{"index":0,"message":{"role":"assistant","content":"`
	tail := `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	return head + strings.Repeat("dolor sit amet ", max(0, n-len(head)-len(tail))/15) + tail
}
