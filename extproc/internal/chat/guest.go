package chat

import (
	"net/netip"

	"google.golang.org/protobuf/types/known/structpb"
)

// attributesKey is the key under which Envoy's ext_proc filter sends the
// request attributes it was configured to send.
const attributesKey = "envoy.filters.http.ext_proc"

// sourceAddress is the attribute holding Envoy's downstream remote address:
// the connecting peer, or with xff_num_trusted_hops the client in front of
// those trusted proxies. Unlike an x-forwarded-for entry, no client can
// write it.
const sourceAddress = "source.address"

// clientAddr returns the client's address, without its port, from the
// source.address attribute; false when Envoy sent none or it is not an
// address. Envoy renders it as "ip:port" ("[v6]:port"), with port 0 for an
// address taken from x-forwarded-for.
func clientAddr(attrs map[string]*structpb.Struct) (string, bool) {
	s := attrs[attributesKey]
	if s == nil {
		return "", false
	}
	v := s.GetFields()[sourceAddress]
	if v == nil {
		return "", false
	}
	raw := v.GetStringValue()
	if len(raw) == 0 || len(raw) > 64 {
		return "", false
	}
	if ap, err := netip.ParseAddrPort(raw); err == nil {
		return ap.Addr().Unmap().String(), true
	}
	if a, err := netip.ParseAddr(raw); err == nil {
		return a.Unmap().String(), true
	}
	return "", false
}
