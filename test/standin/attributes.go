package standin

import (
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"
)

// attributesKey is the filter name under which Envoy files the attributes
// in ProcessingRequest.attributes.
const attributesKey = "envoy.filters.http.ext_proc"

// Envoy evaluates each request_attributes entry as a CEL expression over the
// stream (source/extensions/filters/common/expr/context.cc: "source" is the
// downstream peer, whose "address" is
// downstreamAddressProvider().remoteAddress()->asStringView() and whose
// "port" is an int64) and puts each result in one Struct keyed by the
// expression text (ext_proc matching_utils.cc evaluateAttributes: numbers as
// number_value, strings as string_value). So "source.address" arrives as
// fields["source.address"] = "127.0.0.2:53412", "203.0.113.5:0" for an
// address taken from x-forwarded-for, or "[::1]:53412".
const (
	attrSourceAddress = "source.address"
	attrSourcePort    = "source.port"
)

func checkAttributes(names []string) error {
	for _, n := range names {
		switch n {
		case attrSourceAddress, attrSourcePort:
		default:
			return fmt.Errorf("standin: request attribute %q is unsupported (want %s or %s)", n, attrSourceAddress, attrSourcePort)
		}
	}
	return nil
}

// requestAttributes evaluates the configured attributes for client. An
// expression that yields no value is left out, as Envoy leaves out a CEL
// error.
func requestAttributes(names []string, client downstream) *structpb.Struct {
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(names))}
	for _, n := range names {
		switch n {
		case attrSourceAddress:
			s.Fields[n] = structpb.NewStringValue(client.String())
		case attrSourcePort:
			if client.ip {
				s.Fields[n] = structpb.NewNumberValue(float64(client.addr.Port()))
			}
		}
	}
	return s
}
