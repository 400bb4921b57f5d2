package extproc

import (
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// Answers marshalled by the codec read back equal, whether the generated
// marshaller is compiled in (make: -tags vtprotobuf) or not.
func TestAnswerCodecRoundTrip(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	f := &fakeStream{in: []*extprocv3.ProcessingRequest{
		reqHeaders("/v1/chat/completions", seedKey), reqBody(seedRequest),
		respHeaders("200", "application/json"), respBody(providerAnswer),
	}}
	if err := s.Process(f); err != nil {
		t.Fatal(err)
	}
	c, err := newAnswerCodec()
	if err != nil {
		t.Fatal(err)
	}
	_, vt := any(&extprocv3.ProcessingResponse{}).(vtMarshaler)
	t.Logf("generated marshaller compiled in: %v", vt)
	for i, want := range f.out {
		data, err := c.Marshal(want)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		got := &extprocv3.ProcessingResponse{}
		if err := proto.Unmarshal(data.Materialize(), got); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("answer %d differs after the codec:\ngot  %v\nwant %v", i, got, want)
		}
		data.Free()
	}
}
