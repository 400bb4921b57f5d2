package state

import (
	"container/heap"

	"github.com/shopspring/decimal"
)

// account is one account's ledger, guarded by its shard's lock. reserved
// is always the sum of the open holds' amounts.
type account struct {
	spent, reserved decimal.Decimal
	open            map[string]*openHold // by reservation id
	due             holdHeap             // the open holds, soonest expiry first
	// gone holds reservations that expired and were debited in full, so a
	// late Settle can correct the debit; each is dropped LateSettleWindow
	// after it expired.
	gone map[string]goneHold
}

type openHold struct {
	id      string
	amount  decimal.Decimal
	expires int64 // Unix nanoseconds: expired once now >= expires
	index   int   // position in the account's heap
}

type goneHold struct {
	amount decimal.Decimal
	drop   int64 // Unix nanoseconds
}

// hold opens a reservation.
func (a *account) hold(id string, amount decimal.Decimal, expires int64) {
	if a.open == nil {
		a.open = make(map[string]*openHold)
	}
	h := &openHold{id: id, amount: amount, expires: expires}
	a.open[id] = h
	heap.Push(&a.due, h)
	a.reserved = a.reserved.Add(amount)
}

// expire debits in full every open reservation due at now, and drops a
// few corrections whose window has passed.
func (a *account) expire(now int64) {
	for len(a.due) > 0 && a.due[0].expires <= now {
		h := heap.Pop(&a.due).(*openHold)
		delete(a.open, h.id)
		a.reserved = a.reserved.Sub(h.amount)
		a.spent = a.spent.Add(h.amount)
		if a.gone == nil {
			a.gone = make(map[string]goneHold)
		}
		a.gone[h.id] = goneHold{amount: h.amount, drop: now + int64(LateSettleWindow)}
	}
	seen := 0
	for id, g := range a.gone { // map order varies, so sweeps reach every entry over time
		if seen == sweepBudget {
			break
		}
		seen++
		if now >= g.drop {
			delete(a.gone, id)
		}
	}
}

// settle releases an open reservation and debits cost, or corrects the
// full debit of an expired one to cost; an unknown id (settled already,
// or expired too long ago) changes nothing.
func (a *account) settle(id string, cost decimal.Decimal) {
	if h, ok := a.open[id]; ok {
		heap.Remove(&a.due, h.index)
		delete(a.open, id)
		a.reserved = a.reserved.Sub(h.amount)
		a.spent = a.spent.Add(cost)
		return
	}
	if g, ok := a.gone[id]; ok {
		delete(a.gone, id)
		a.spent = a.spent.Add(cost).Sub(g.amount)
	}
}

// renew moves an open reservation's expiry to expires, if that is later.
func (a *account) renew(id string, expires int64) {
	h, ok := a.open[id]
	if !ok || expires <= h.expires {
		return
	}
	h.expires = expires
	heap.Fix(&a.due, h.index)
}

// holdHeap orders open holds by expiry (container/heap).
type holdHeap []*openHold

func (q holdHeap) Len() int           { return len(q) }
func (q holdHeap) Less(i, j int) bool { return q[i].expires < q[j].expires }
func (q holdHeap) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *holdHeap) Push(x any) {
	h := x.(*openHold)
	h.index = len(*q)
	*q = append(*q, h)
}

func (q *holdHeap) Pop() any {
	old := *q
	h := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return h
}
