package state

import (
	"testing"
	"time"
)

// The writers on the request path: one Observe per answered request, one
// AdmitRoute per routed request.
func BenchmarkHealthObserve(b *testing.B) {
	h := NewHealth(routeIDs(16)...)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Observe(i&15, time.Millisecond, i&7 == 0, at(time.Duration(i)))
	}
}

func BenchmarkHealthAdmitRoute(b *testing.B) {
	h := NewHealth(routeIDs(16)...)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.AdmitRoute(i&15, 600, at(time.Duration(i)*time.Microsecond))
	}
}
