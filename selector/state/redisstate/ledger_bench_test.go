package redisstate

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector/state"
)

// BenchmarkLedgerAdmitReserve measures one AdmitReserve (window and credit
// in one script round trip) against a real redis-server on loopback, over
// 1024 keys of 64 accounts. Reservations are left open; the credit never
// runs out. Serial shows latency; parallel shows throughput through
// go-redis's pool.
func BenchmarkLedgerAdmitReserve(b *testing.B) {
	r := startRedis(b)
	l := newStore(b, r.Client(b)).Ledger()
	keys := make([]string, 1024)
	holds := make([]state.Hold, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("key_%d", i)
	}
	for i := range holds {
		holds[i] = state.Hold{Account: fmt.Sprintf("acct_%d", i), Credit: decimal.NewFromInt(1_000_000),
			Amount: decimal.RequireFromString("0.00123456")}
	}
	admit := func(b *testing.B, i int) {
		_, _, err := l.AdmitReserve(context.Background(), keys[i%len(keys)], 600, holds[i%len(holds)], at(time.Duration(i)*time.Microsecond))
		if err != nil {
			b.Error(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			admit(b, i)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				admit(b, int(n.Add(1)))
			}
		})
	})
}
