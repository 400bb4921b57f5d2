package stream

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func rawHeaders(kv ...string) *corev3.HeaderMap {
	hm := &corev3.HeaderMap{}
	for i := 0; i < len(kv); i += 2 {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return hm
}

// envoyRequestHeaders is the first message of a chat request as Envoy
// sends it with the shipped configuration: raw values, an empty
// metadata_context, the protocol configuration, source.address.
func envoyRequestHeaders() *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
			Headers: rawHeaders(":authority", "localhost:10000", ":path", "/v1/chat/completions", ":method", "POST",
				":scheme", "http", "authorization", "Bearer cpen_live_abc", "content-length", "2048",
				"content-type", "application/json", "x-request-id", "4d1f8a0c-0001"),
		}},
		MetadataContext: &corev3.Metadata{},
		Attributes: map[string]*structpb.Struct{"envoy.filters.http.ext_proc": {Fields: map[string]*structpb.Value{
			"source.address": structpb.NewStringValue("10.0.0.7:51234"),
		}}},
		ProtocolConfig: &extprocv3.ProtocolConfiguration{
			RequestBodyMode:  extprocfilterv3.ProcessingMode_BUFFERED,
			ResponseBodyMode: extprocfilterv3.ProcessingMode_BUFFERED,
		},
	}
}

// fastShapes are the messages Envoy sends on the hot path: each must take
// the decoder's own path, not protobuf's.
func fastShapes() map[string]*extprocv3.ProcessingRequest {
	return map[string]*extprocv3.ProcessingRequest{
		"request headers": envoyRequestHeaders(),
		"request headers, end of stream, plain values": {
			Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
				Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
					{Key: ":path", Value: "/health"}, {Key: "x-empty"}, {Key: "x-both", Value: "v", RawValue: []byte("r")},
				}},
				EndOfStream: true,
			}},
			ObservabilityMode: true,
		},
		"request body": {
			Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
				Body: []byte(`{"model":"cpen/middle","messages":[]}`), EndOfStream: true,
			}},
			MetadataContext: &corev3.Metadata{},
		},
		"response headers": {
			Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{
				Headers: rawHeaders(":status", "200", "content-type", "application/json", "content-length", "600"),
			}},
			MetadataContext: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				"envoy.lb": {Fields: map[string]*structpb.Value{"canary": structpb.NewBoolValue(true)}},
			}},
		},
		"response body chunk": {
			Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{
				Body: []byte("data: {}\n\n"),
			}},
		},
		"response body, every flag": {
			Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{
				EndOfStream: true, EndOfStreamWithoutMessage: true, GrpcMessageCompressed: true, DrainComplete: true,
			}},
			FlowControlInit:    &extprocv3.ProcessingRequest_FlowControlInit{InitialWindowDownstreamToSidestream: 65536},
			ClientWindowUpdate: &extprocv3.ProcessingRequest_ClientWindowUpdate{WindowIncrementSidestreamToUpstream: 4096},
		},
		"empty header map":  {Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{}}}},
		"empty headers":     {Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{}}},
		"empty body":        {Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{}}},
		"nothing but state": {ObservabilityMode: true},
	}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeViaCodec decodes b as gRPC hands a message that spans two frames
// to the codec, then overwrites b: the result must not point into gRPC's
// buffers.
func decodeViaCodec(t testing.TB, b []byte) (*extprocv3.ProcessingRequest, error) {
	t.Helper()
	c, err := NewCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	in := bytes.Clone(b)
	got := &extprocv3.ProcessingRequest{}
	half := len(in) / 2
	err = c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(in[:half]), mem.SliceBuffer(in[half:])}, got)
	for i := range in {
		in[i] = 0xff
	}
	return got, err
}

// decodeViaInbox decodes b as decodeViaCodec does, into an inbox that an
// earlier message, with every field the decoder fills, left behind.
func decodeViaInbox(t testing.TB, b []byte) (*extprocv3.ProcessingRequest, error) {
	t.Helper()
	c, err := NewCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	in := new(inbox)
	for _, m := range fastShapes() {
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(marshal(t, m))}, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(marshal(t, envoyRequestHeaders()))}, in); err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(b)
	err = c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(buf)}, in)
	for i := range buf {
		buf[i] = 0xff
	}
	return &in.req, err
}

// sameAsProtobuf fails unless the codec decodes b exactly as protobuf
// does, into a new message and into a used inbox: the same message, or an
// error where protobuf has one.
func sameAsProtobuf(t testing.TB, b []byte) {
	t.Helper()
	want := &extprocv3.ProcessingRequest{}
	wantErr := proto.Unmarshal(b, want)
	for _, decode := range []func(testing.TB, []byte) (*extprocv3.ProcessingRequest, error){decodeViaCodec, decodeViaInbox} {
		got, err := decode(t, b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("codec error %v, protobuf error %v, for %x", err, wantErr, b)
		}
		if wantErr == nil && !proto.Equal(got, want) {
			t.Fatalf("codec decoded %v, protobuf %v, from %x", got, want, b)
		}
	}
}

func TestDecodeRequestTakesItsOwnPathForEnvoysShapes(t *testing.T) {
	for name, m := range fastShapes() {
		t.Run(name, func(t *testing.T) {
			b := marshal(t, m)
			var got extprocv3.ProcessingRequest
			if !decodeRequest(bytes.Clone(b), &got, nil) {
				t.Fatal("fell back to protobuf")
			}
			if !proto.Equal(&got, m) {
				t.Fatalf("decoded %v, want %v", &got, m)
			}
			sameAsProtobuf(t, b)
		})
	}
}

// appendField appends one length-delimited field.
func appendField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// headerValue encodes a HeaderValue from raw fields.
func headerValueBytes(fields ...[]byte) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
	}
	return b
}

func TestDecodeRequestLeavesTheRestToProtobuf(t *testing.T) {
	key := appendField(nil, 1, []byte("x-a"))
	hm := func(hvs ...[]byte) []byte {
		var b []byte
		for _, hv := range hvs {
			b = appendField(b, 1, hv)
		}
		return b
	}
	headers := func(hmb []byte) []byte { return appendField(nil, 1, hmb) }
	reqHeaders := func(hb []byte) []byte { return appendField(nil, fieldRequestHeaders, hb) }
	body := appendField(nil, fieldRequestBody, appendField(nil, 1, []byte("{}")))
	trailers := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{
		RequestTrailers: &extprocv3.HttpTrailers{Trailers: rawHeaders("grpc-status", "0")}}}

	cases := map[string]struct {
		b   []byte
		err bool // protobuf refuses it too
	}{
		"trailers":                       {b: marshal(t, trailers)},
		"deprecated header attributes":   {b: reqHeaders(appendField(nil, 2, appendField(nil, 1, []byte("f"))))},
		"unknown top-level field":        {b: append(bytes.Clone(body), appendVarint(nil, 99, 1)...)},
		"unknown header field":           {b: reqHeaders(headers(hm(headerValueBytes(key, appendVarint(nil, 7, 1)))))},
		"unknown body field":             {b: appendField(nil, fieldRequestBody, appendVarint(nil, 9, 1))},
		"two oneof members":              {b: append(reqHeaders(nil), body...)},
		"a oneof member twice (merged)":  {b: append(reqHeaders(headers(hm(key))), reqHeaders(headers(hm(key)))...)},
		"header map twice (merged)":      {b: reqHeaders(append(headers(hm(key)), headers(hm(key))...))},
		"end_of_stream as bytes":         {b: reqHeaders(appendField(nil, 3, nil))},
		"observability_mode as bytes":    {b: appendField(nil, fieldObservabilityMode, nil)},
		"header map entry as varint":     {b: reqHeaders(headers(appendVarint(nil, 1, 1)))},
		"raw value as varint":            {b: reqHeaders(headers(hm(appendVarint(nil, 3, 1))))},
		"attribute with an unknown part": {b: appendField(nil, fieldAttributes, appendVarint(nil, 3, 1))},
		"attribute value twice (merged)": {b: appendField(nil, fieldAttributes, append(appendField(nil, 2, nil), appendField(nil, 2, nil)...))},
		"attribute without a value":      {b: appendField(nil, fieldAttributes, appendField(nil, 1, []byte("k")))},
		"attribute without a key":        {b: appendField(nil, fieldAttributes, appendField(nil, 2, nil))},
		"attributes, later key wins": {b: append(
			appendField(nil, fieldAttributes, appendField(appendField(nil, 1, []byte("k")), 2, appendField(nil, 1, appendField(nil, 1, []byte("a"))))),
			appendField(nil, fieldAttributes, appendField(nil, 1, []byte("k")))...)},
		"last value wins in a header": {b: reqHeaders(headers(hm(headerValueBytes(key, appendField(nil, 1, []byte("x-b")),
			appendField(nil, 3, []byte("1")), appendField(nil, 3, []byte("2"))))))},
		"invalid UTF-8 key":            {b: reqHeaders(headers(hm(appendField(nil, 1, []byte{0xff})))), err: true},
		"invalid UTF-8 value":          {b: reqHeaders(headers(hm(appendField(nil, 2, []byte{0xc3})))), err: true},
		"invalid UTF-8 attribute key":  {b: appendField(nil, fieldAttributes, appendField(nil, 1, []byte{0xff})), err: true},
		"raw value need not be UTF-8":  {b: reqHeaders(headers(hm(appendField(nil, 3, []byte{0xff}))))},
		"truncated length":             {b: reqHeaders(headers(hm(key)))[:4], err: true},
		"truncated tag":                {b: []byte{0x80}, err: true},
		"field number zero":            {b: appendVarint(nil, 0, 1), err: true},
		"group wire type":              {b: protowire.AppendTag(nil, fieldRequestBody, protowire.StartGroupType), err: true},
		"overlong varint":              {b: append(protowire.AppendTag(nil, fieldObservabilityMode, protowire.VarintType), bytes.Repeat([]byte{0xff}, 11)...), err: true},
		"bad metadata":                 {b: appendField(nil, fieldMetadataContext, []byte{0x0a, 0x05}), err: true},
		"bad protocol configuration":   {b: appendField(nil, fieldProtocolConfig, []byte{0x08}), err: true},
		"bad attribute value":          {b: appendField(nil, fieldAttributes, appendField(nil, 2, []byte{0x0a})), err: true},
		"huge field number":            {b: appendVarint(nil, protowire.MaxValidNumber, 1)},
		"invalid field number":         {b: protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), err: true},
		"empty message":                {b: nil},
		"headers in value, raw absent": {b: reqHeaders(headers(hm(headerValueBytes(key, appendField(nil, 2, []byte("v"))))))},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := proto.Unmarshal(c.b, &extprocv3.ProcessingRequest{}); (err != nil) != c.err {
				t.Fatalf("protobuf error %v, the case expects an error: %v", err, c.err)
			}
			sameAsProtobuf(t, c.b)
		})
	}
}

// nestedAttribute is a request whose attribute value nests levels
// messages: Structs and Values in turn, the outermost a Struct.
func nestedAttribute(levels int) []byte {
	var cur []byte
	isStruct := levels%2 == 1
	if !isStruct {
		cur = appendField(nil, 3, []byte("s")) // Value.string_value
	}
	for range levels - 1 {
		if isStruct {
			cur = appendField(nil, 5, cur) // Value.struct_value
		} else {
			entry := appendField(appendField(nil, 1, []byte("n")), 2, cur)
			cur = appendField(nil, 1, entry) // Struct.fields
		}
		isStruct = !isStruct
	}
	attr := appendField(appendField(nil, 1, []byte("f")), 2, cur)
	return appendField(nil, fieldAttributes, attr)
}

// Protobuf limits how deep a message nests; a Struct decoded on its own
// here meets the limit at the same depth as in a whole-message decode.
func TestDecodeRequestKeepsProtobufsDepthLimit(t *testing.T) {
	accepts := func(levels int) bool {
		return proto.Unmarshal(nestedAttribute(levels), &extprocv3.ProcessingRequest{}) == nil
	}
	// The deepest nesting protobuf accepts, by bisection.
	deepest, refused := 1, protowire.DefaultRecursionLimit+1
	if !accepts(deepest) || accepts(refused) {
		t.Fatal("protobuf's limit is not between 1 and its default recursion limit")
	}
	for refused-deepest > 1 {
		if mid := (deepest + refused) / 2; accepts(mid) {
			deepest = mid
		} else {
			refused = mid
		}
	}
	sameAsProtobuf(t, nestedAttribute(deepest))
	sameAsProtobuf(t, nestedAttribute(deepest+1))
}

// The decoded headers and body point into one copy of the message, so a
// message takes a fixed number of allocations whatever its header count.
func TestDecodeRequestAllocations(t *testing.T) {
	c, err := NewCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	headers := envoyRequestHeaders()
	headers.Attributes = nil
	in := new(inbox)
	for _, tc := range []struct {
		name string
		m    *extprocv3.ProcessingRequest
		into any
		// Into a new message: the copy, the oneof and its message, the
		// metadata; for headers also the header map, its entries and
		// their pointers, and the protocol configuration. Into a stream's
		// inbox: the copy, and the protocol configuration Envoy sends
		// with the first message.
		most float64
	}{
		{"request body", fastShapes()["request body"], new(extprocv3.ProcessingRequest), 4},
		{"request headers", headers, new(extprocv3.ProcessingRequest), 8},
		{"request body into an inbox", fastShapes()["request body"], in, 1},
		{"request headers into an inbox", headers, in, 2},
		{"response headers into an inbox", fastShapes()["empty header map"], in, 1},
	} {
		b := marshal(t, tc.m)
		buf := mem.BufferSlice{mem.SliceBuffer(b)}
		allocs := testing.AllocsPerRun(100, func() {
			if err := c.Unmarshal(buf, tc.into); err != nil {
				t.Fatal(err)
			}
		})
		protobuf := testing.AllocsPerRun(100, func() {
			if err := proto.Unmarshal(b, new(extprocv3.ProcessingRequest)); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: %v allocations (protobuf into a new message: %v)", tc.name, allocs, protobuf)
		if allocs > tc.most {
			t.Errorf("%s: %v allocations, want at most %v", tc.name, allocs, tc.most)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, m := range fastShapes() {
		f.Add(marshal(f, m))
	}
	f.Add(nestedAttribute(3))
	f.Add([]byte(strings.Repeat("\x12\x00", 3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsProtobuf(t, b)
	})
}

var errSink error

func BenchmarkDecodeRequest(b *testing.B) {
	// The four messages of a chat exchange as the load generator sends
	// them (request attributes are not configured there).
	body := bytes.Repeat([]byte("a"), 2048)
	first := envoyRequestHeaders()
	first.Attributes = nil
	msgs := []*extprocv3.ProcessingRequest{
		first,
		{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: true}},
			MetadataContext: &corev3.Metadata{}},
		{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{
			Headers: rawHeaders(":status", "200", "content-type", "application/json", "content-length", "600",
				"date", "Tue, 14 Oct 2025 09:00:00 GMT", "x-envoy-upstream-service-time", "212"),
		}}, MetadataContext: &corev3.Metadata{}},
		{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{Body: body[:600], EndOfStream: true}},
			MetadataContext: &corev3.Metadata{}},
	}
	var enc [][]byte
	for _, m := range msgs {
		enc = append(enc, marshal(b, m))
	}
	c, err := NewCodec(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, e := range enc {
				errSink = errors.Join(errSink, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(e)}, &extprocv3.ProcessingRequest{}))
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, e := range enc {
				errSink = errors.Join(errSink, proto.Unmarshal(e, &extprocv3.ProcessingRequest{}))
			}
		}
	})
	if errSink != nil {
		b.Fatal(errSink)
	}
}
