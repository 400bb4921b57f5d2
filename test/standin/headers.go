package standin

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// header is one entry of a headerMap; keys are lower-case like Envoy's.
type header struct {
	key   string
	value string
}

// headerMap mirrors Envoy's HeaderMapImpl: ordered entries, repeated keys
// allowed, pseudo-headers kept in front of the regular ones.
type headerMap struct {
	entries []header
}

func (h *headerMap) get(key string) (string, bool) {
	for _, e := range h.entries {
		if e.key == key {
			return e.value, true
		}
	}
	return "", false
}

func (h *headerMap) has(key string) bool {
	_, ok := h.get(key)
	return ok
}

func (h *headerMap) remove(key string) {
	kept := h.entries[:0]
	for _, e := range h.entries {
		if e.key != key {
			kept = append(kept, e)
		}
	}
	h.entries = kept
}

// add appends a value; a pseudo-header goes after the last pseudo-header.
func (h *headerMap) add(key, value string) {
	if !strings.HasPrefix(key, ":") {
		h.entries = append(h.entries, header{key, value})
		return
	}
	i := 0
	for i < len(h.entries) && strings.HasPrefix(h.entries[i].key, ":") {
		i++
	}
	h.entries = append(h.entries, header{})
	copy(h.entries[i+1:], h.entries[i:])
	h.entries[i] = header{key, value}
}

// set replaces every value of key (Envoy's setCopy with
// http_set_copy_replace_all_headers on).
func (h *headerMap) set(key, value string) {
	h.remove(key)
	h.add(key, value)
}

func (h *headerMap) size() int {
	n := 0
	for _, e := range h.entries {
		n += len(e.key) + len(e.value)
	}
	return n
}

func (h *headerMap) proto() *corev3.HeaderMap {
	out := &corev3.HeaderMap{Headers: make([]*corev3.HeaderValue, 0, len(h.entries))}
	for _, e := range h.entries {
		// send_header_raw_value is on by default: raw_value only, value empty.
		out.Headers = append(out.Headers, &corev3.HeaderValue{Key: e.key, RawValue: []byte(e.value)})
	}
	return out
}

// appendSorted adds Go headers lower-cased, keys sorted (Go loses wire order),
// skipping the given keys.
func (h *headerMap) appendSorted(src http.Header, skip func(string) bool) {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if skip != nil && skip(lk) {
			continue
		}
		for _, v := range src[k] {
			h.add(lk, v)
		}
	}
}

func (h *headerMap) contentLength() (int64, bool) {
	v, ok := h.get("content-length")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// isHopByHop lists what Envoy's connection manager strips from requests
// before any filter sees them.
func isHopByHop(key string) bool {
	switch key {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te":
		return true
	}
	return false
}

// validHeaderName follows Envoy's HeaderUtility::headerNameIsValid: RFC 7230
// tokens, lower-case only after a leading ':'.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	pseudo := name[0] == ':'
	if pseudo {
		if len(name) == 1 {
			return false
		}
		name = name[1:]
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if pseudo && c >= 'A' && c <= 'Z' {
			return false
		}
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHeaderValue follows nghttp2_check_header_value: HTAB, visible ASCII,
// space and obs-text; no other control characters.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\t' {
			continue
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// validAuthority follows nghttp2_check_authority.
func validAuthority(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			continue
		}
		if strings.IndexByte("-._~!$&'()*+,;=:@[]%", c) < 0 {
			return false
		}
	}
	return true
}
