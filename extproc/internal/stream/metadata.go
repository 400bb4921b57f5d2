package stream

import (
	"math"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
)

// MetadataNamespace is the dynamic-metadata namespace the sidecar writes;
// Envoy keeps it only when its ext_proc filter lists it among the
// receiving namespaces, and its access log reads it as
// %DYNAMIC_METADATA(cpen:KEY)%.
const MetadataNamespace = "cpen"

// maxMetadataFields bounds the fields one answer carries; the request's
// fields are few and fixed (route, alias, status, tokens, cost, time).
const maxMetadataFields = 12

// Field numbers of the messages the metadata is made of: the answer's
// dynamic_metadata, a Struct's fields map entry (key, value), a Value's
// number, string and struct kinds.
const (
	fieldDynamicMetadata protowire.Number = 8
	fieldStructFields    protowire.Number = 1
	fieldEntryKey        protowire.Number = 1
	fieldEntryValue      protowire.Number = 2
	fieldValueNumber     protowire.Number = 2
	fieldValueString     protowire.Number = 3
	fieldValueStruct     protowire.Number = 5
)

// metaField is one key of the namespace and its value.
type metaField struct {
	key, str string
	num      float64
	isNum    bool
}

// Metadata collects the dynamic metadata of the next answer. Envoy merges
// what successive answers of a request write into one namespace, a key
// written again replacing its value, so each answer carries only what is
// new. The fields are encoded straight into the answer's wire form (as a
// pre-encoded dynamic_metadata field), not built as a Struct of maps: the
// same bytes on the wire, without a map to fill and walk per answer. Its
// storage stays with the pooled exchange.
type Metadata struct {
	fields   [maxMetadataFields]metaField
	n        int
	attached bool // the fields went out with an answer: clear before adding
	// bufs hold the encodings, one per answer in turn, so the answers of
	// one request each keep theirs until they are sent.
	bufs [4][]byte
	next int
}

// SetString sets key to a string value in the next answer's metadata.
func (m *Metadata) SetString(key, v string) {
	if f := m.slot(key); f != nil {
		f.str, f.isNum = v, false
	}
}

// SetNumber sets key to a number value in the next answer's metadata.
func (m *Metadata) SetNumber(key string, v float64) {
	if f := m.slot(key); f != nil {
		f.num, f.isNum = v, true
	}
}

// slot returns the field for key: its own when the key is set already in
// this answer, else the next free one; nil when all are taken.
func (m *Metadata) slot(key string) *metaField {
	if m.attached {
		m.n, m.attached = 0, false
	}
	for i := range m.n {
		if m.fields[i].key == key {
			return &m.fields[i]
		}
	}
	if m.n == maxMetadataFields {
		return nil
	}
	f := &m.fields[m.n]
	m.n++
	*f = metaField{key: key}
	return f
}

// attach puts the fields set since the last answer on resp.
func (m *Metadata) attach(resp *extprocv3.ProcessingResponse) {
	if m.n == 0 || m.attached || resp == nil {
		return
	}
	b := m.encode(m.bufs[m.next][:0])
	m.bufs[m.next] = b
	m.next = (m.next + 1) % len(m.bufs)
	resp.ProtoReflect().SetUnknown(b)
	m.attached = true
}

// reset forgets the fields of a request that ended, keeping the storage.
func (m *Metadata) reset() {
	m.n, m.attached = 0, false
}

// encode appends the answer's dynamic_metadata field: a Struct whose one
// entry is the namespace, a Value holding a Struct of the fields.
func (m *Metadata) encode(dst []byte) []byte {
	inner := 0
	for i := range m.n {
		e := m.fields[i].entrySize()
		inner += protowire.SizeTag(fieldStructFields) + protowire.SizeBytes(e)
	}
	nsValue := protowire.SizeTag(fieldValueStruct) + protowire.SizeBytes(inner)
	nsEntry := protowire.SizeTag(fieldEntryKey) + protowire.SizeBytes(len(MetadataNamespace)) +
		protowire.SizeTag(fieldEntryValue) + protowire.SizeBytes(nsValue)
	outer := protowire.SizeTag(fieldStructFields) + protowire.SizeBytes(nsEntry)

	dst = protowire.AppendTag(dst, fieldDynamicMetadata, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(outer))
	dst = protowire.AppendTag(dst, fieldStructFields, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(nsEntry))
	dst = protowire.AppendTag(dst, fieldEntryKey, protowire.BytesType)
	dst = protowire.AppendString(dst, MetadataNamespace)
	dst = protowire.AppendTag(dst, fieldEntryValue, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(nsValue))
	dst = protowire.AppendTag(dst, fieldValueStruct, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	for i := range m.n {
		f := &m.fields[i]
		dst = protowire.AppendTag(dst, fieldStructFields, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(f.entrySize()))
		dst = protowire.AppendTag(dst, fieldEntryKey, protowire.BytesType)
		dst = protowire.AppendString(dst, f.key)
		dst = protowire.AppendTag(dst, fieldEntryValue, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(f.valueSize()))
		if f.isNum {
			dst = protowire.AppendTag(dst, fieldValueNumber, protowire.Fixed64Type)
			dst = protowire.AppendFixed64(dst, math.Float64bits(f.num))
		} else {
			dst = protowire.AppendTag(dst, fieldValueString, protowire.BytesType)
			dst = protowire.AppendString(dst, f.str)
		}
	}
	return dst
}

// valueSize is the encoded size of the field's Value message.
func (f *metaField) valueSize() int {
	if f.isNum {
		return protowire.SizeTag(fieldValueNumber) + protowire.SizeFixed64()
	}
	return protowire.SizeTag(fieldValueString) + protowire.SizeBytes(len(f.str))
}

// entrySize is the encoded size of the field's map entry (key, value).
func (f *metaField) entrySize() int {
	return protowire.SizeTag(fieldEntryKey) + protowire.SizeBytes(len(f.key)) +
		protowire.SizeTag(fieldEntryValue) + protowire.SizeBytes(f.valueSize())
}
