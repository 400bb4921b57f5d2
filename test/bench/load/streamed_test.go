package load_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/test/bench/load"
)

// streamer switches the response body to STREAMED in its headers answer,
// as the sidecar does for a large answer, and keeps the body chunks it
// gets.
type streamer struct {
	extprocv3.UnimplementedExternalProcessorServer
	chunks chan []*extprocv3.HttpBody
}

func (s streamer) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	var got []*extprocv3.HttpBody
	defer func() { s.chunks <- got }()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		resp := &extprocv3.ProcessingResponse{}
		switch r := req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			resp.Response = &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{}}
		case *extprocv3.ProcessingRequest_RequestBody:
			resp.Response = &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			resp.Response = &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}
			resp.ModeOverride = &extprocfilterv3.ProcessingMode{ResponseBodyMode: extprocfilterv3.ProcessingMode_STREAMED}
		case *extprocv3.ProcessingRequest_ResponseBody:
			got = append(got, r.ResponseBody)
			resp.Response = &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{}}
		}
		if err := stream.Send(resp); err != nil {
			return nil
		}
	}
}

// Once the headers answer switches the body to STREAMED, the body goes in
// StreamChunk pieces, each answered before the next, the last one ending
// the stream; joined they are the body.
func TestStreamedResponseBodyInChunks(t *testing.T) {
	srv := streamer{chunks: make(chan []*extprocv3.HttpBody, 1)}
	addr := startNoop(t, srv)
	c, err := load.Dial(addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := load.ChatResponse(1 << 20)
	m, err := load.NewMessages(load.DefaultKey, load.DefaultRequest(), body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Exchange(ctx, m); err != nil {
		t.Fatal(err)
	}
	chunks := <-srv.chunks
	want := (len(body) + load.StreamChunk - 1) / load.StreamChunk
	if len(chunks) != want {
		t.Fatalf("%d chunks, want %d", len(chunks), want)
	}
	var joined []byte
	for i, ch := range chunks {
		if ch.GetEndOfStream() != (i == len(chunks)-1) {
			t.Errorf("chunk %d end_of_stream %v", i, ch.GetEndOfStream())
		}
		if i < len(chunks)-1 && len(ch.GetBody()) != load.StreamChunk {
			t.Errorf("chunk %d of %d bytes", i, len(ch.GetBody()))
		}
		joined = append(joined, ch.GetBody()...)
	}
	if !bytes.Equal(joined, body) {
		t.Error("the chunks do not make the body")
	}
}
