package stream

import (
	"unicode/utf8"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Field numbers of ProcessingRequest.
const (
	fieldRequestHeaders     = 2
	fieldResponseHeaders    = 3
	fieldRequestBody        = 4
	fieldResponseBody       = 5
	fieldMetadataContext    = 8
	fieldAttributes         = 9
	fieldObservabilityMode  = 10
	fieldProtocolConfig     = 11
	fieldFlowControlInit    = 12
	fieldClientWindowUpdate = 13
	// oneofFields are the bits of the request oneof's fields (2 to 7).
	oneofFields = 0b1111_1100
)

// Sub-messages handed to protobuf here are decoded with its recursion
// limit less the levels above them, so that they meet the limit where a
// whole-message decode would: nestedLimit for a field of the request,
// entryLimit for the value of a map entry of the request (protobuf counts
// the entry as a level).
var (
	nestedLimit = proto.UnmarshalOptions{RecursionLimit: protowire.DefaultRecursionLimit - 1}
	entryLimit  = proto.UnmarshalOptions{RecursionLimit: protowire.DefaultRecursionLimit - 2}
)

// decodeRequest decodes an ext_proc request into m for the shapes Envoy
// sends on the hot path: one header or body message, with
// metadata_context, attributes, observability_mode, protocol_config and
// the flow-control fields beside it. Protobuf's generic decoder costs about
// three allocations per header and a reflective step per oneof; here the
// headers of a message take two allocations, and every string and byte
// slice points into b, which the caller hands over and never changes
// again. Sub-messages the path reads little (metadata, attribute values,
// protocol configuration) go through protobuf.
//
// It returns false, leaving m in no particular state, for anything else:
// trailers, unknown or repeated fields, a wire type other than the
// field's, strings that are not UTF-8, a malformed encoding. The caller
// then decodes b with protobuf, whose result or error stands, so the two
// decoders never disagree.
func decodeRequest(b []byte, m *extprocv3.ProcessingRequest, in *inbox) bool {
	m.Reset()
	var seen uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > 31 {
			return false
		}
		b = b[n:]
		bit := uint32(1) << num
		if seen&bit != 0 && num != fieldAttributes || bit&oneofFields != 0 && seen&oneofFields != 0 {
			return false
		}
		seen |= bit
		if typ == protowire.VarintType && num == fieldObservabilityMode {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			m.ObservabilityMode = v != 0
			continue
		}
		if typ != protowire.BytesType {
			return false
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if !requestField(num, v, m, in) {
			return false
		}
	}
	return true
}

// requestField decodes one length-delimited field of a request, into the
// structures of in (nil: fresh ones).
func requestField(num protowire.Number, v []byte, m *extprocv3.ProcessingRequest, in *inbox) bool {
	switch num {
	case fieldRequestHeaders, fieldResponseHeaders:
		h, ok := decodeHeaders(v, in)
		in.setOneof(m, int(num), h, nil)
		return ok
	case fieldRequestBody, fieldResponseBody:
		h, ok := decodeBody(v, in)
		in.setOneof(m, int(num), nil, h)
		return ok
	case fieldMetadataContext:
		if len(v) == 0 {
			m.MetadataContext = in.emptyMetadata()
			return true
		}
		m.MetadataContext = new(corev3.Metadata)
		return nestedLimit.Unmarshal(v, m.MetadataContext) == nil
	case fieldAttributes:
		return decodeAttribute(v, m)
	case fieldProtocolConfig:
		m.ProtocolConfig = new(extprocv3.ProtocolConfiguration)
		return nestedLimit.Unmarshal(v, m.ProtocolConfig) == nil
	case fieldFlowControlInit:
		m.FlowControlInit = new(extprocv3.ProcessingRequest_FlowControlInit)
		return nestedLimit.Unmarshal(v, m.FlowControlInit) == nil
	case fieldClientWindowUpdate:
		m.ClientWindowUpdate = new(extprocv3.ProcessingRequest_ClientWindowUpdate)
		return nestedLimit.Unmarshal(v, m.ClientWindowUpdate) == nil
	}
	return false
}

// decodeAttribute adds one entry of the attributes map: a key, and a
// Struct that protobuf decodes. As in protobuf, a later entry with the
// same key replaces an earlier one and a missing value is an empty Struct.
func decodeAttribute(v []byte, m *extprocv3.ProcessingRequest) bool {
	var key string
	val := new(structpb.Struct)
	var seen uint8
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 || typ != protowire.BytesType || num < 1 || num > 2 || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		v = v[n:]
		f, n := protowire.ConsumeBytes(v)
		if n < 0 {
			return false
		}
		v = v[n:]
		if num == 1 {
			if !utf8.Valid(f) {
				return false
			}
			key = aliasString(f)
		} else if entryLimit.Unmarshal(f, val) != nil {
			return false
		}
	}
	if m.Attributes == nil {
		m.Attributes = make(map[string]*structpb.Struct, 1)
	}
	m.Attributes[key] = val
	return true
}

// decodeHeaders decodes HttpHeaders; its deprecated attributes field is
// left to protobuf.
func decodeHeaders(v []byte, in *inbox) (*extprocv3.HttpHeaders, bool) {
	h := in.httpHeaders()
	var seen uint8
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 || num < 1 || num > 3 || seen&(1<<num) != 0 {
			return h, false
		}
		seen |= 1 << num
		v = v[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			f, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return h, false
			}
			v = v[n:]
			var ok bool
			if h.Headers, ok = decodeHeaderMap(f, in); !ok {
				return h, false
			}
		case num == 3 && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return h, false
			}
			v = v[n:]
			h.EndOfStream = x != 0
		default:
			return h, false
		}
	}
	return h, true
}

// decodeHeaderMap decodes a HeaderMap: its entries are counted first, so
// that all of them take one allocation and their pointers a second, or
// none when in has room.
func decodeHeaderMap(v []byte, in *inbox) (*corev3.HeaderMap, bool) {
	count := 0
	for p := v; len(p) > 0; count++ {
		num, typ, n := protowire.ConsumeTag(p)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return nil, false
		}
		p = p[n:]
		if n = protowire.ConsumeFieldValue(num, typ, p); n < 0 {
			return nil, false
		}
		p = p[n:]
	}
	hm, vals := in.headerEntries(count)
	for i := range vals {
		_, _, n := protowire.ConsumeTag(v)
		f, m := protowire.ConsumeBytes(v[n:])
		v = v[n+m:]
		if !decodeHeaderValue(f, &vals[i]) {
			return nil, false
		}
	}
	return hm, true
}

// decodeHeaderValue decodes one header: key, value and raw_value; as in
// protobuf, a repeated field's last occurrence wins.
func decodeHeaderValue(v []byte, hv *corev3.HeaderValue) bool {
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 || num < 1 || num > 3 || typ != protowire.BytesType {
			return false
		}
		v = v[n:]
		f, n := protowire.ConsumeBytes(v)
		if n < 0 {
			return false
		}
		v = v[n:]
		switch num {
		case 1, 2:
			if !utf8.Valid(f) {
				return false
			}
			if num == 1 {
				hv.Key = aliasString(f)
			} else {
				hv.Value = aliasString(f)
			}
		case 3:
			hv.RawValue = f[:len(f):len(f)]
		}
	}
	return true
}

// decodeBody decodes HttpBody; the body points into the message.
func decodeBody(v []byte, in *inbox) (*extprocv3.HttpBody, bool) {
	h := in.httpBody()
	var seen uint8
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 || num < 1 || num > 5 || seen&(1<<num) != 0 {
			return h, false
		}
		seen |= 1 << num
		v = v[n:]
		if num == 1 {
			if typ != protowire.BytesType {
				return h, false
			}
			f, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return h, false
			}
			v = v[n:]
			h.Body = f[:len(f):len(f)]
			continue
		}
		if typ != protowire.VarintType {
			return h, false
		}
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return h, false
		}
		v = v[n:]
		switch num {
		case 2:
			h.EndOfStream = x != 0
		case 3:
			h.EndOfStreamWithoutMessage = x != 0
		case 4:
			h.GrpcMessageCompressed = x != 0
		case 5:
			h.DrainComplete = x != 0
		}
	}
	return h, true
}

// aliasString is b as a string without a copy. The decoder only calls it
// on bytes of a message buffer that nothing writes after decoding.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
