package extproc

import (
	"encoding/json"
	"strconv"
	"time"
)

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a Go string always marshals; keep the reply valid anyway
		return append(b, `""`...)
	}
	return append(b, q...)
}

// appendBool appends a JSON boolean.
func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// seconds renders a duration as whole seconds, rounded up ("12s").
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 0 {
		s = 0
	}
	return strconv.FormatInt(s, 10) + "s"
}
