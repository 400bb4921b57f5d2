package stream

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// vtMarshaler is the code vtprotobuf generates for go-control-plane's
// messages; it is compiled in with -tags vtprotobuf (make build does).
type vtMarshaler interface {
	SizeVT() int
	MarshalToSizedBufferVTStrict(dAtA []byte) (int, error)
}

// answerCodec marshals answers with the generated code where the binary
// has it, which skips protobuf's reflection on the hot path, and falls back
// to gRPC's own proto codec for everything else.
type answerCodec struct{ proto encoding.CodecV2 }

// NewCodec returns the server codec of the ext_proc service: the generated
// marshallers for answers where compiled in, gRPC's proto codec otherwise.
func NewCodec() (encoding.CodecV2, error) {
	c := encoding.GetCodecV2("proto")
	if c == nil {
		return nil, fmt.Errorf("grpc proto codec not registered")
	}
	return &answerCodec{proto: c}, nil
}

func (c *answerCodec) Name() string { return "proto" }

func (c *answerCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(vtMarshaler)
	if !ok {
		return c.proto.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		if _, err := m.MarshalToSizedBufferVTStrict(buf); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if _, err := m.MarshalToSizedBufferVTStrict((*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (c *answerCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}
