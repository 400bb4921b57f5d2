package stream

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// MetadataNamespace is the dynamic-metadata namespace the sidecar writes;
// Envoy keeps it only when its ext_proc filter lists it among the
// receiving namespaces, and its access log reads it as
// %DYNAMIC_METADATA(cpen:KEY)%.
const MetadataNamespace = "cpen"

// maxMetadataFields bounds the fields one answer carries; the request's
// fields are few and fixed (route, alias, status, tokens, cost, time).
const maxMetadataFields = 12

// Metadata collects the dynamic metadata of the next answer. Envoy merges
// what successive answers of a request write into one namespace, a key
// written again replacing its value, so each answer carries only what is
// new. Its storage is kept with the pooled exchange: the maps and values
// are reused from one answer and one request to the next, so an answer
// with metadata allocates nothing.
type Metadata struct {
	outer    structpb.Struct
	nsValue  structpb.Value
	nsKind   structpb.Value_StructValue
	inner    structpb.Struct
	vals     [maxMetadataFields]structpb.Value
	strs     [maxMetadataFields]structpb.Value_StringValue
	nums     [maxMetadataFields]structpb.Value_NumberValue
	n        int
	attached bool // the fields went out with an answer: clear before adding
}

// SetString sets key to a string value in the next answer's metadata.
func (m *Metadata) SetString(key, v string) {
	if i, ok := m.slot(key); ok {
		m.strs[i].StringValue = v
		m.vals[i].Kind = &m.strs[i]
	}
}

// SetNumber sets key to a number value in the next answer's metadata.
func (m *Metadata) SetNumber(key string, v float64) {
	if i, ok := m.slot(key); ok {
		m.nums[i].NumberValue = v
		m.vals[i].Kind = &m.nums[i]
	}
}

// slot returns the value slot for key: its own when the key is set
// already in this answer, else the next free one.
func (m *Metadata) slot(key string) (int, bool) {
	if m.attached {
		clear(m.inner.Fields)
		m.n, m.attached = 0, false
	}
	if m.inner.Fields == nil {
		m.inner.Fields = make(map[string]*structpb.Value, maxMetadataFields)
	}
	if v, ok := m.inner.Fields[key]; ok {
		for i := range m.n {
			if &m.vals[i] == v {
				return i, true
			}
		}
	}
	if m.n == maxMetadataFields {
		return 0, false
	}
	i := m.n
	m.n++
	m.inner.Fields[key] = &m.vals[i]
	return i, true
}

// attach puts the fields set since the last answer on resp.
func (m *Metadata) attach(resp *extprocv3.ProcessingResponse) {
	if m.n == 0 || m.attached || resp == nil {
		return
	}
	if m.outer.Fields == nil {
		m.outer.Fields = make(map[string]*structpb.Value, 1)
		m.nsKind.StructValue = &m.inner
		m.nsValue.Kind = &m.nsKind
		m.outer.Fields[MetadataNamespace] = &m.nsValue
	}
	resp.DynamicMetadata = &m.outer
	m.attached = true
}

// reset forgets the fields of a request that ended, keeping the storage.
func (m *Metadata) reset() {
	clear(m.inner.Fields)
	m.n, m.attached = 0, false
}
