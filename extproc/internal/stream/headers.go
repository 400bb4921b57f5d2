package stream

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// HeaderBytes returns the first value of a lower-case header, without
// copying it.
func HeaderBytes(h *corev3.HeaderMap, key string) []byte {
	for _, hv := range h.GetHeaders() {
		if hv.GetKey() == key {
			if raw := hv.GetRawValue(); len(raw) > 0 {
				return raw
			}
			return []byte(hv.GetValue())
		}
	}
	return nil
}

// headerValue returns the first value of a lower-case header. Envoy sends
// values in raw_value; value is read only as a fallback.
func headerValue(h *corev3.HeaderMap, key string) string {
	for _, hv := range h.GetHeaders() {
		if hv.GetKey() == key {
			if raw := hv.GetRawValue(); len(raw) > 0 {
				return string(raw)
			}
			return hv.GetValue()
		}
	}
	return ""
}
