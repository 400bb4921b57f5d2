package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// BenchmarkLedgerAdmitReserve measures AdmitReserve over 1024 keys of 64
// accounts. settled: each reservation is settled at once (the Settle is
// timed too), so the ledger stays small; open: reservations are left open
// and the accounts' heaps grow.
func BenchmarkLedgerAdmitReserve(b *testing.B) {
	keys := make([]string, 1024)
	accounts := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("key_%d", i)
	}
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acct_%d", i)
	}
	credit := decimal.NewFromInt(1_000_000)
	amount := decimal.RequireFromString("0.00123456")
	cost := decimal.RequireFromString("0.00012345")
	for _, settle := range []bool{true, false} {
		name := "open"
		if settle {
			name = "settled"
		}
		b.Run(name, func(b *testing.B) {
			g := NewLedger(NewLimiter())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				now := at(time.Duration(i) * time.Microsecond)
				h := Hold{Account: accounts[i%len(accounts)], Credit: credit, Amount: amount}
				_, r, err := g.AdmitReserve(context.Background(), keys[i%len(keys)], 600, h, now)
				if err != nil {
					b.Fatal(err)
				}
				if settle && r.Reserved {
					_ = g.Settle(context.Background(), r, cost, now)
				}
			}
		})
	}
}
