package otlptest

import (
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Attr returns the value of span's attribute key and whether it is set.
func Attr(span *tracepb.Span, key string) (*commonpb.AnyValue, bool) {
	return find(span.GetAttributes(), key)
}

// ResourceAttr returns the value of res's attribute key and whether it is
// set.
func ResourceAttr(res *resourcepb.Resource, key string) (*commonpb.AnyValue, bool) {
	return find(res.GetAttributes(), key)
}

func find(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue(), true
		}
	}
	return nil, false
}
