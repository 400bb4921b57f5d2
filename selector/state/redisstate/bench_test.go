package redisstate

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAdmit measures one Admit against a real redis-server on
// loopback: one script round trip. Serial shows latency; parallel shows
// throughput through go-redis's pool.
func BenchmarkAdmit(b *testing.B) {
	r := startRedis(b)
	l := newStore(b, r.Client(b)).Limiter()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("key_%d", i)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			l.Admit(context.Background(), keys[i%len(keys)], 600, at(time.Duration(i)*time.Microsecond))
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				l.Admit(context.Background(), keys[i%int64(len(keys))], 600, at(time.Duration(i)*time.Microsecond))
			}
		})
	})
}
