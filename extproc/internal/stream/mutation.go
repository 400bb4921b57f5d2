package stream

import (
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Mutation collects header changes. Values go in raw_value only: Envoy
// ignores value (and rejects both set at once). One from Replies.Mutation
// takes its entries from the stream's arena; the zero Mutation, from the
// heap.
type Mutation struct {
	m *extprocv3.HeaderMutation
	a *Replies
}

// Set sets a header to value.
func (mu *Mutation) Set(key, value string) {
	if mu.m == nil {
		mu.m = &extprocv3.HeaderMutation{}
	}
	var o *corev3.HeaderValueOption
	if mu.a != nil {
		o = mu.a.option(key, value)
	} else {
		o = &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: []byte(value)}}
	}
	mu.m.SetHeaders = append(mu.m.SetHeaders, o)
}

// SetInt sets a decimal value, formatted into the arena when there is one.
func (mu *Mutation) SetInt(key string, n int) {
	if mu.a == nil {
		mu.Set(key, strconv.Itoa(n))
		return
	}
	var buf [20]byte
	mu.m.SetHeaders = append(mu.m.SetHeaders, mu.a.optionBytes(key, strconv.AppendInt(buf[:0], int64(n), 10)))
}

// Remove removes a header.
func (mu *Mutation) Remove(key string) {
	if mu.m == nil {
		mu.m = &extprocv3.HeaderMutation{}
	}
	// The entry lands in the arena only while this mutation's slice still
	// has arena room; once it has spilled to the heap, the arena is full.
	if mu.a != nil && mu.a.nRem < len(mu.a.rems) && len(mu.m.RemoveHeaders) < cap(mu.m.RemoveHeaders) {
		mu.a.nRem++
	}
	mu.m.RemoveHeaders = append(mu.m.RemoveHeaders, key)
}

// RateLimit is where a client's request window stands.
type RateLimit struct {
	Limit     int           // requests per minute
	Remaining int           // admissions left in the window
	Reset     time.Duration // until the oldest admission leaves the window
	// RetryAfter, on a refusal, is how long until a request would pass.
	RetryAfter time.Duration
}

// SetRateLimit adds the x-ratelimit-* headers that tell a client where its
// window stands, on routed answers and 429s alike.
func (mu *Mutation) SetRateLimit(l RateLimit) {
	mu.SetInt("x-ratelimit-limit-requests", l.Limit)
	mu.SetInt("x-ratelimit-remaining-requests", l.Remaining)
	mu.Set("x-ratelimit-reset-requests", seconds(l.Reset))
}

// seconds renders a duration as whole seconds, rounded up ("12s").
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 0 {
		s = 0
	}
	return strconv.FormatInt(s, 10) + "s"
}
