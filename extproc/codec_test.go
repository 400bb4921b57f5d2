//go:build vtprotobuf

package extproc

import (
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// Answers marshalled by the codec's generated path read back equal. The
// file builds only with the vtprotobuf tag, and fails if the generated
// marshaller is not compiled in: the reflection fallback is not what
// production runs.
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
	if _, vt := any(&extprocv3.ProcessingResponse{}).(vtMarshaler); !vt {
		t.Fatal("ProcessingResponse has no generated marshaller: the vtprotobuf tag did not reach go-control-plane")
	}
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
