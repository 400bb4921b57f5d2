package stream

import (
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// The pre-encoded metadata is, on the wire, the dynamic_metadata a Struct
// of maps would give: Envoy (or any decoder) reads the same fields.
func TestMetadataEncodesAStruct(t *testing.T) {
	var m Metadata
	m.SetString("route_id", "route_mid_01")
	m.SetString("alias", "cpen/middle")
	m.SetNumber("input_tokens", 42)
	m.SetNumber("processing_us", 0.5)
	m.SetString("route_id", "route_mid_02") // replaced, not repeated
	m.SetString("empty", "")
	resp := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}
	m.attach(resp)

	// Through the server's codec, as the answer goes out.
	c, err := NewCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	wire := out.Materialize()
	var got extprocv3.ProcessingResponse
	if err := proto.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	inner, err := structpb.NewStruct(map[string]any{
		"route_id": "route_mid_02", "alias": "cpen/middle", "input_tokens": 42, "processing_us": 0.5, "empty": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &structpb.Struct{Fields: map[string]*structpb.Value{"cpen": structpb.NewStructValue(inner)}}
	if !proto.Equal(got.GetDynamicMetadata(), want) {
		t.Errorf("decoded metadata %v, want %v", got.GetDynamicMetadata(), want)
	}
	if len(got.ProtoReflect().GetUnknown()) != 0 {
		t.Errorf("bytes left unknown after decoding: %x", got.ProtoReflect().GetUnknown())
	}

	// The next answer starts afresh; one without fields carries none.
	m.SetString("status", "completed")
	next := &extprocv3.ProcessingResponse{}
	m.attach(next)
	var decoded extprocv3.ProcessingResponse
	b, _ := proto.Marshal(next)
	_ = proto.Unmarshal(b, &decoded)
	if f := decoded.GetDynamicMetadata().GetFields()["cpen"].GetStructValue().GetFields(); len(f) != 1 || f["status"].GetStringValue() != "completed" {
		t.Errorf("second answer's metadata %v", f)
	}
	empty := &extprocv3.ProcessingResponse{}
	m.attach(empty)
	if len(empty.ProtoReflect().GetUnknown()) != 0 {
		t.Error("an answer got the fields of the previous one")
	}
}
