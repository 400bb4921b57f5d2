package load

import (
	"bytes"
	"fmt"
	"strings"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The generator shares the machine with the server it measures, so it
// keeps its own per-exchange work small: requests are encoded once and
// sent as bytes, and an answer is classified by its first field instead of
// being decoded (a 1 MiB body mutation would otherwise be copied). The
// wire format is standard protobuf either way; the server sees no
// difference.

// encoded is a ProcessingRequest already in wire format.
type encoded []byte

// answer is what the generator needs from a ProcessingResponse: which
// member of its response oneof is set, and for an ImmediateResponse, the
// whole message.
type answer struct {
	field     protowire.Number // 0: none set
	immediate *extprocv3.ImmediateResponse
	// wantMode asks decode to read mode_override too (the response
	// headers' answer); streamed is whether it switched the response body
	// to STREAMED.
	wantMode bool
	streamed bool
}

// fields are the field numbers of ProcessingResponse's response oneof,
// taken from the descriptor.
type fields struct {
	oneof protoreflect.OneofDescriptor
	// want is the answer each phase needs: request headers, request body,
	// response headers, response body.
	want [4]protowire.Number
}

func newFields() fields {
	o := (&extprocv3.ProcessingResponse{}).ProtoReflect().Descriptor().Oneofs().ByName("response")
	f := fields{oneof: o}
	for i, name := range [4]protoreflect.Name{"request_headers", "request_body", "response_headers", "response_body"} {
		f.want[i] = o.Fields().ByName(name).Number()
	}
	return f
}

// name is a oneof member's name, for messages.
func (f fields) name(n protowire.Number) string {
	if fd := f.oneof.Fields().ByNumber(n); fd != nil {
		return string(fd.Name())
	}
	return fmt.Sprintf("field %d", n)
}

// codec is the proto codec for the generator's own message types.
type codec struct{ f fields }

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case encoded:
		// Read-only and never freed: the bytes are shared by all streams.
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return nil, fmt.Errorf("codec: cannot marshal %T", v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *answer:
		return m.decode(data, c.f)
	case proto.Message:
		if err := proto.Unmarshal(data.Materialize(), m); err != nil {
			return fmt.Errorf("unmarshal %T: %w", v, err)
		}
		return nil
	}
	return fmt.Errorf("codec: cannot unmarshal into %T", v)
}

// decode reads the first field's number. Go's proto encoder writes fields
// in number order, so that is the oneof member when one is set and it is
// not one of the immediate responses; anything else (those, or a non-Go
// server's ordering) is decoded in full.
func (a *answer) decode(data mem.BufferSlice, f fields) error {
	a.streamed = false
	if a.wantMode {
		// A headers answer is small: read it whole.
		var resp extprocv3.ProcessingResponse
		if err := proto.Unmarshal(data.Materialize(), &resp); err != nil {
			return fmt.Errorf("unmarshal ProcessingResponse: %w", err)
		}
		a.field, a.immediate = 0, resp.GetImmediateResponse()
		if fd := resp.ProtoReflect().WhichOneof(f.oneof); fd != nil {
			a.field = fd.Number()
		}
		a.streamed = resp.GetModeOverride().GetResponseBodyMode() == extprocfilterv3.ProcessingMode_STREAMED
		return nil
	}
	var head [16]byte
	n := data.CopyTo(head[:])
	num, typ, tagLen := protowire.ConsumeTag(head[:n])
	if tagLen > 0 && typ == protowire.BytesType {
		if fd := f.oneof.Fields().ByNumber(num); fd != nil && !strings.Contains(string(fd.Name()), "immediate") {
			a.field, a.immediate = num, nil
			return nil
		}
	}
	var resp extprocv3.ProcessingResponse
	if err := proto.Unmarshal(data.Materialize(), &resp); err != nil {
		return fmt.Errorf("unmarshal ProcessingResponse: %w", err)
	}
	a.field, a.immediate = 0, resp.GetImmediateResponse()
	if fd := resp.ProtoReflect().WhichOneof(f.oneof); fd != nil {
		a.field = fd.Number()
	}
	return nil
}

// headerTemplate is a request_headers message in wire format whose
// x-request-id is a placeholder of the final length, patched per exchange.
type headerTemplate struct {
	b      []byte
	idAt   int // offset of the placeholder
	idSize int
}

func newHeaderTemplate(msg *extprocv3.ProcessingRequest, placeholder string) (headerTemplate, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return headerTemplate{}, fmt.Errorf("marshal request_headers: %w", err)
	}
	at := bytes.Index(b, []byte(placeholder))
	if at < 0 || bytes.Count(b, []byte(placeholder)) != 1 {
		return headerTemplate{}, fmt.Errorf("request_headers template: placeholder %q not found exactly once", placeholder)
	}
	return headerTemplate{b: b, idAt: at, idSize: len(placeholder)}, nil
}

// with returns the message with id in place of the placeholder; id must
// have the placeholder's length.
func (t headerTemplate) with(id []byte) encoded {
	out := bytes.Clone(t.b)
	copy(out[t.idAt:t.idAt+t.idSize], id)
	return out
}
