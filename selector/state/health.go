package state

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpen/router/selector"
)

// Route health policy.
const (
	// EjectAfter consecutive failures eject a route...
	EjectAfter = 5
	// ...for EjectFor.
	EjectFor = 30 * time.Second
	// ewmaWeight is the weight of the newest outcome in the error rate and
	// latency averages.
	ewmaWeight = 0.2
)

// Health tracks live route state for one catalog version, indexed by
// selector.Route.Index: an EWMA error rate and latency, ejection after
// consecutive failures, and each route's provider RPM window. Writers take a
// per-route lock; Route reads atomics only.
//
// A route's state belongs to its id, not its index: Rebind gives the next
// catalog version a Health that shares the state of every route it keeps,
// so a reload neither forgives an ejected route nor empties its window.
//
// Health has no clock of its own. Ejection and capacity expire against the
// latest time it was given by Observe, AdmitRoute or Advance; callers that
// select without writing first should call Advance(now), or read through
// At(now).
type Health struct {
	ids    []string      // route ids, by index
	routes []*routeState // by index; shared by id with the versions Rebind derives
	// now is the latest time seen, Unix nanoseconds. Versions derived by
	// Rebind share it: a request still served by an older version moves
	// time on for the newer one too.
	now *atomic.Int64
}

type routeState struct {
	downUntil atomic.Int64  // Unix nanoseconds; ejected while now < downUntil
	fullUntil atomic.Int64  // Unix nanoseconds; at capacity while now < fullUntil
	errRate   atomic.Uint64 // float64 bits
	latency   atomic.Uint64 // float64 bits, seconds

	mu          sync.Mutex // guards the fields below and the writes above
	consecutive int
	ejected     bool // ejected and no success seen since
	sampled     bool // latency has a first sample
	rpm         window
}

// NewHealth returns healthy state for routes with the given ids, in index
// order. Ids are unique, as a catalog's route ids are.
func NewHealth(ids ...string) *Health {
	return bind(nil, ids, new(atomic.Int64))
}

// Rebind returns the Health of the next catalog version, whose routes are
// ids in index order. A route h also tracks keeps its state (ejection,
// averages, provider RPM window) whatever its new index, and keeps sharing
// it with h, so outcomes still observed through h count for both; a new
// route starts healthy; a route not in ids is dropped from the result.
// Neither h nor its readers are disturbed.
func (h *Health) Rebind(ids ...string) *Health {
	old := make(map[string]*routeState, len(h.ids))
	for i, id := range h.ids {
		old[id] = h.routes[i]
	}
	return bind(old, ids, h.now)
}

// bind lays out state for ids, taking each route's state from old when it
// has some. A taken state is removed from old, so an id listed twice gets
// fresh state the second time rather than sharing the first's.
func bind(old map[string]*routeState, ids []string, now *atomic.Int64) *Health {
	h := &Health{ids: slices.Clone(ids), routes: make([]*routeState, len(ids)), now: now}
	for i, id := range ids {
		r, ok := old[id]
		if ok {
			delete(old, id)
		} else {
			r = new(routeState)
		}
		h.routes[i] = r
	}
	return h
}

var (
	_ selector.Health = (*Health)(nil)
	_ selector.Health = View{}
)

// Len is the number of routes tracked.
func (h *Health) Len() int { return len(h.routes) }

// Advance moves Health's notion of now forward (never back).
func (h *Health) Advance(now time.Time) {
	t := now.UnixNano()
	for {
		cur := h.now.Load()
		if t <= cur || h.now.CompareAndSwap(cur, t) {
			return
		}
	}
}

// Route reports a route's state at the latest time Health was given.
// Indexes outside [0, Len) report a healthy route.
func (h *Health) Route(index int) selector.RouteHealth {
	return h.at(index, h.now.Load())
}

// At returns a read-only view of h at an explicit time. Storing a View in a
// selector.Health interface allocates once; on the per-request hot path
// prefer Advance(now) and pass h itself.
func (h *Health) At(now time.Time) View { return View{h: h, now: now.UnixNano()} }

// View is Health read at a fixed time.
type View struct {
	h   *Health
	now int64
}

// Route reports a route's state at the view's time.
func (v View) Route(index int) selector.RouteHealth { return v.h.at(index, v.now) }

func (h *Health) at(index int, now int64) selector.RouteHealth {
	if index < 0 || index >= len(h.routes) {
		return selector.RouteHealth{}
	}
	r := h.routes[index]
	return selector.RouteHealth{
		Down:           now < r.downUntil.Load(),
		AtCapacity:     now < r.fullUntil.Load(),
		ErrorRate:      math.Float64frombits(r.errRate.Load()),
		LatencySeconds: math.Float64frombits(r.latency.Load()),
	}
}

// Transition is a change of a route's standing that Observe reports, for
// the operator's log.
type Transition uint8

const (
	// Unchanged: nothing to report.
	Unchanged Transition = iota
	// Ejected: this failure was the EjectAfter-th in a row; the route is
	// out for EjectFor.
	Ejected
	// Recovered: the first success on a route since its ejection.
	Recovered
)

// Observe records one outcome of a request served by a route. A failure
// counts towards ejection and the error rate; a success resets the
// consecutive failures and feeds the latency average too (a failure's
// latency says little about the route's speed). It reports an ejection
// this outcome caused, or the first success after one.
func (h *Health) Observe(index int, latency time.Duration, failed bool, now time.Time) Transition {
	h.Advance(now)
	if index < 0 || index >= len(h.routes) {
		return Unchanged
	}
	r := h.routes[index]
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	outcome := 0.0
	if failed {
		outcome = 1
	}
	r.errRate.Store(math.Float64bits(ewma(math.Float64frombits(r.errRate.Load()), outcome)))
	if !failed {
		r.consecutive = 0
		sec := max(latency.Seconds(), 0)
		if r.sampled {
			sec = ewma(math.Float64frombits(r.latency.Load()), sec)
		}
		r.sampled = true
		r.latency.Store(math.Float64bits(sec))
		if r.ejected {
			r.ejected = false
			return Recovered
		}
		return Unchanged
	}
	r.consecutive++
	if r.consecutive >= EjectAfter {
		r.consecutive = 0
		r.downUntil.Store(t + int64(EjectFor))
		r.ejected = true
		return Ejected
	}
	return Unchanged
}

func ewma(avg, sample float64) float64 { return avg + ewmaWeight*(sample-avg) }

// AdmitRoute takes a slot in the route's provider RPM window when fewer than
// rpmLimit admissions are in it, and reports whether it did. rpmLimit 0 (or
// less) is unlimited. Once the window is full the route reads AtCapacity
// until enough admissions leave that one more fits (with a steady limit:
// until the oldest leaves). Indexes outside [0, Len) are admitted.
func (h *Health) AdmitRoute(index, rpmLimit int, now time.Time) bool {
	h.Advance(now)
	if index < 0 || index >= len(h.routes) {
		return true
	}
	r := h.routes[index]
	if rpmLimit <= 0 {
		r.fullUntil.Store(0)
		return true
	}
	limit := clampLimit(rpmLimit)
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rpm.evict(t)
	admitted := r.rpm.n < limit
	if admitted {
		r.rpm.push(t, limit)
	}
	if r.rpm.n >= limit {
		r.fullUntil.Store(r.rpm.freeAt(limit))
	} else {
		r.fullUntil.Store(0)
	}
	return admitted
}
