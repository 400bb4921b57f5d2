package stream

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// inboxRecorder is a processor that writes down every message as it sees
// it, and keeps the request id's bytes as the transport does.
type inboxRecorder struct {
	x         *Exchange
	seen      []string
	requestID []byte
	finished  chan struct{}
}

func describeHeaders(h *extprocv3.HttpHeaders) string {
	var b strings.Builder
	for _, hv := range h.GetHeaders().GetHeaders() {
		fmt.Fprintf(&b, "%s=%s|%s;", hv.GetKey(), hv.GetValue(), hv.GetRawValue())
	}
	return fmt.Sprintf("%s eos=%v", b.String(), h.GetEndOfStream())
}

func (r *inboxRecorder) RequestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	r.requestID = HeaderBytes(h.GetHeaders(), "x-request-id")
	r.seen = append(r.seen, "request headers "+describeHeaders(h)+
		" source="+r.x.Attributes()["envoy.filters.http.ext_proc"].GetFields()["source.address"].GetStringValue())
	return r.x.rp.RequestHeaders(nil), nil
}

func (r *inboxRecorder) RequestBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	r.seen = append(r.seen, fmt.Sprintf("request body %s eos=%v", b.GetBody(), b.GetEndOfStream()))
	return r.x.rp.RequestBody(nil), nil
}

func (r *inboxRecorder) ResponseHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	r.seen = append(r.seen, "response headers "+describeHeaders(h))
	return r.x.rp.ResponseHeaders(nil), nil
}

func (r *inboxRecorder) ResponseBody(b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	r.seen = append(r.seen, fmt.Sprintf("response body %s eos=%v request id %s", b.GetBody(), b.GetEndOfStream(), r.requestID))
	return r.x.rp.ResponseBody(nil), nil
}

func (r *inboxRecorder) Finish() { close(r.finished) }

// ownCodecClient serves s over an in-memory gRPC connection whose server
// decodes with the transport's codec, as Main's does.
func ownCodecClient(t *testing.T, s *Server) extprocv3.ExternalProcessorClient {
	t.Helper()
	codec, err := NewCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	return bufconnClient(t, s, s, grpc.ForceServerCodecV2(codec))
}

// Over gRPC with the transport's codec, each message is decoded into the
// exchange's inbox: the processor sees every message whole (a later
// message with fewer headers shows no entry of an earlier one), the bytes
// it keeps stay valid across messages, and once the stream is over the
// pooled exchange holds nothing of the request.
func TestInboxReusedAcrossMessagesAndStreams(t *testing.T) {
	var recorders []*inboxRecorder
	s := New(Config{Log: zap.NewNop(), OwnCodec: true, NotFound: passThrough, IdleTimeout: time.Minute,
		Endpoints: Endpoints{"/x": func(x *Exchange) Processor {
			r := &inboxRecorder{x: x, finished: make(chan struct{})}
			recorders = append(recorders, r)
			return r
		}}})
	client := ownCodecClient(t, s)

	// Many request headers; the second stream's fewer fit in their room.
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("x-h%02d", i), fmt.Sprintf("v%02d", i))
	}
	first := reqHeaders(append([]string{":path", "/x", ":method", "POST", "x-request-id", "rid-1"}, many...)...)
	// One value in value rather than raw_value: the response headers'
	// entry in its place has only a raw_value.
	first.GetRequestHeaders().Headers.Headers[1] = &corev3.HeaderValue{Key: ":method", Value: "POST"}
	first.MetadataContext = &corev3.Metadata{}
	first.Attributes = map[string]*structpb.Struct{"envoy.filters.http.ext_proc": {Fields: map[string]*structpb.Value{
		"source.address": structpb.NewStringValue("10.0.0.7:51234")}}}
	second := reqHeaders(":path", "/x", ":method", "GET", "x-request-id", "rid-2")

	var wantFirst strings.Builder
	wantFirst.WriteString("request headers :path=|/x;:method=POST|;x-request-id=|rid-1;")
	for i := range 30 {
		fmt.Fprintf(&wantFirst, "x-h%02d=|v%02d;", i, i)
	}
	wantFirst.WriteString(" eos=false source=10.0.0.7:51234")
	for _, c := range []struct {
		headers *extprocv3.ProcessingRequest
		want    []string
	}{
		{first, []string{wantFirst.String(),
			"request body hello eos=true",
			"response headers :status=|200;content-type=|text/plain; eos=false",
			"response body world eos=true request id rid-1"}},
		{second, []string{"request headers :path=|/x;:method=|GET;x-request-id=|rid-2; eos=false source=",
			"request body hello eos=true",
			"response headers :status=|200;content-type=|text/plain; eos=false",
			"response body world eos=true request id rid-2"}},
	} {
		st, err := client.Process(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []*extprocv3.ProcessingRequest{c.headers, reqBody("hello"),
			{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: headers(false, ":status", "200", "content-type", "text/plain")}},
			respBody("world")} {
			if err := st.Send(m); err != nil {
				_, rerr := st.Recv()
				t.Fatalf("send %v: %v (%v)", m, err, rerr)
			}
			if _, err := st.Recv(); err != nil {
				t.Fatalf("answer to %v: %v", m, err)
			}
		}
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("end of stream: %v", err)
		}
		r := recorders[len(recorders)-1]
		<-r.finished
		if strings.Join(r.seen, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("the processor saw\n%s\nwant\n%s", strings.Join(r.seen, "\n"), strings.Join(c.want, "\n"))
		}
		in := r.x.in
		if in == nil {
			t.Fatal("the stream did not decode into an inbox")
		}
		if in.used != 0 || in.req.GetRequest() != nil || in.req.GetMetadataContext() != nil || in.req.GetAttributes() != nil ||
			in.headers.GetHeaders() != nil || in.headerMap.GetHeaders() != nil || in.body.GetBody() != nil ||
			in.reqHeaders.RequestHeaders != nil || in.respHeaders.ResponseHeaders != nil ||
			in.reqBody.RequestBody != nil || in.respBody.ResponseBody != nil {
			t.Errorf("the released exchange's inbox still points to the request: %+v", in)
		}
		for i := range in.vals {
			if !proto.Equal(&in.vals[i], &corev3.HeaderValue{}) {
				t.Fatalf("header entry %d kept %v after the stream", i, &in.vals[i])
			}
		}
	}
	if len(recorders) != 2 {
		t.Fatalf("%d processors, want 2", len(recorders))
	}
}
