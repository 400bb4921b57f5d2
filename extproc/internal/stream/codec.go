package stream

import (
	"bytes"
	"fmt"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
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
type answerCodec struct {
	proto encoding.CodecV2
	pool  mem.BufferPool
}

// NewCodec returns the server codec of the ext_proc service: the generated
// marshallers for answers where compiled in, gRPC's proto codec otherwise;
// answers are encoded into buffers from pool (nil: gRPC's default).
func NewCodec(pool mem.BufferPool) (encoding.CodecV2, error) {
	c := encoding.GetCodecV2("proto")
	if c == nil {
		return nil, fmt.Errorf("grpc proto codec not registered")
	}
	if pool == nil {
		pool = mem.DefaultBufferPool()
	}
	return &answerCodec{proto: c, pool: pool}, nil
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
	pool := c.pool
	buf := pool.Get(size)
	if _, err := m.MarshalToSizedBufferVTStrict((*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal decodes a message from Envoy. An ext_proc request is copied
// out of gRPC's buffers once and decoded in place (see decodeRequest).
// Another message that came in one piece is decoded where it lies; one
// that spans frames is gathered into a buffer of the codec's pool first
// (gRPC's own codec gathers into its default pool, which clears a MiB for
// any message over 32 KiB).
func (c *answerCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch r := v.(type) {
	case *inbox:
		return unmarshalRequest(data, &r.req, r)
	case *extprocv3.ProcessingRequest:
		return unmarshalRequest(data, r, nil)
	}
	m, ok := v.(proto.Message)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	if len(data) == 1 {
		return proto.Unmarshal(data[0].ReadOnlyData(), m)
	}
	buf := data.MaterializeToBuffer(c.pool)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// unmarshalRequest decodes an ext_proc request into m, with the structures
// of in where given. The one copy of the message is made here: the decoded
// headers and body point into it, and gRPC's buffers go back to its pool.
func unmarshalRequest(data mem.BufferSlice, m *extprocv3.ProcessingRequest, in *inbox) error {
	b := materialize(data)
	if decodeRequest(b, m, in) {
		return nil
	}
	return proto.Unmarshal(b, m)
}

// materialize copies a message out of gRPC's buffers. A message in one
// buffer (any that fits one HTTP/2 frame) is cloned, which copies into
// memory the runtime need not clear first.
func materialize(data mem.BufferSlice) []byte {
	if len(data) == 1 {
		return bytes.Clone(data[0].ReadOnlyData())
	}
	return data.Materialize()
}
