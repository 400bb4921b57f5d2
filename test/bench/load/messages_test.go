package load

import (
	"bytes"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func headers(h *corev3.HeaderMap) map[string]string {
	m := map[string]string{}
	for _, hv := range h.GetHeaders() {
		if hv.GetValue() != "" {
			m[hv.GetKey()] = "VALUE SET: " + hv.GetValue()
			continue
		}
		m[hv.GetKey()] = string(hv.GetRawValue())
	}
	return m
}

func TestMessages(t *testing.T) {
	req, resp := DefaultRequest(), DefaultResponse()
	m, err := NewMessages("cpen_live_k", req, resp)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{fields: newFields()}
	id := string(c.requestID())
	if id != "00000000-0000-4000-8000-000000000001" {
		t.Errorf("first request id %q", id)
	}

	first, err := m.Decode(0, id)
	if err != nil {
		t.Fatal(err)
	}
	h := headers(first.GetRequestHeaders().GetHeaders())
	for k, v := range map[string]string{
		":method": "POST", ":path": "/v1/chat/completions", ":scheme": "http", ":authority": "localhost:10000",
		"authorization": "Bearer cpen_live_k", "content-type": "application/json", "content-length": "2048",
		"x-request-id": id,
	} {
		if h[k] != v {
			t.Errorf("request header %s = %q, want %q", k, h[k], v)
		}
	}
	if first.GetRequestHeaders().GetEndOfStream() {
		t.Error("request headers end the stream")
	}
	pc := first.GetProtocolConfig()
	if pc.GetRequestBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED || pc.GetResponseBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED {
		t.Errorf("protocol_config %v", pc)
	}

	body, err := m.Decode(1, "")
	if err != nil {
		t.Fatal(err)
	}
	if rb := body.GetRequestBody(); !bytes.Equal(rb.GetBody(), req) || !rb.GetEndOfStream() {
		t.Errorf("request body: %d bytes, eos %v", len(rb.GetBody()), rb.GetEndOfStream())
	}
	rh, err := m.Decode(2, "")
	if err != nil {
		t.Fatal(err)
	}
	h = headers(rh.GetResponseHeaders().GetHeaders())
	if h[":status"] != "200" || h["content-type"] != "application/json" || h["content-length"] != "600" {
		t.Errorf("response headers %v", h)
	}
	rbody, err := m.Decode(3, "")
	if err != nil {
		t.Fatal(err)
	}
	if rb := rbody.GetResponseBody(); !bytes.Equal(rb.GetBody(), resp) || !rb.GetEndOfStream() {
		t.Errorf("response body: %d bytes, eos %v", len(rb.GetBody()), rb.GetEndOfStream())
	}
	for i, msg := range []*extprocv3.ProcessingRequest{first, body, rh, rbody} {
		if msg.GetMetadataContext() == nil {
			t.Errorf("message %d has no metadata_context", i)
		}
		if i > 0 && msg.GetProtocolConfig() != nil {
			t.Errorf("message %d repeats protocol_config", i)
		}
	}
	if _, err := m.Decode(0, "short"); err == nil {
		t.Error("Decode with a short id: no error")
	}
}

func TestAnswerDecode(t *testing.T) {
	f := newFields()
	big := bytes.Repeat([]byte("x"), 70000)
	tests := []struct {
		name      string
		resp      *extprocv3.ProcessingResponse
		want      protowire.Number
		immediate bool
	}{
		{"request_headers", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{}}}, f.want[0], false},
		{"request_body with a big mutation", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{
			Response: &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: big}}}}}}, f.want[1], false},
		{"response_headers", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}}, f.want[2], false},
		{"response_body", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{}}}, f.want[3], false},
		{"immediate_response", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests}}}}, 7, true},
		{"nothing set", &extprocv3.ProcessingResponse{}, 0, false},
		{"metadata only", &extprocv3.ProcessingResponse{DynamicMetadata: &structpb.Struct{}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			// Split like a transport would, to exercise multi-buffer input.
			data := mem.BufferSlice{mem.SliceBuffer(b[:len(b)/2]), mem.SliceBuffer(b[len(b)/2:])}
			var a answer
			if err := (codec{f: f}).Unmarshal(data, &a); err != nil {
				t.Fatal(err)
			}
			if a.field != tt.want || (a.immediate != nil) != tt.immediate {
				t.Errorf("answer = field %d, immediate %v; want %d, %v", a.field, a.immediate != nil, tt.want, tt.immediate)
			}
		})
	}
}
