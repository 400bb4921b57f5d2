package state

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpen/router/selector"
)

// Route health policy: the first failure of a route ejects it at once for
// EjectBase; each further failure of a request sent after the ejection
// ended doubles the ejection, up to EjectMax; a success ends the streak.
// A provider's Retry-After makes an ejection last at least that long, up
// to RetryAfterMax.
const (
	// EjectBase is the first ejection of a failure streak.
	EjectBase = time.Second
	// EjectMax bounds a doubled ejection.
	EjectMax = time.Minute
	// RetryAfterMax bounds the wait a provider can ask for: a mistaken or
	// hostile header must not take a route out for longer.
	RetryAfterMax = 5 * time.Minute
	// ewmaWeight is the weight of the newest outcome in the error rate and
	// latency averages.
	ewmaWeight = 0.2
)

// Health tracks live route state for one catalog version, indexed by
// selector.Route.Index: an EWMA error rate and latency, ejection on
// failure with a doubling back-off, and each route's provider RPM window. Writers take a
// per-route lock; Route reads atomics only. An ejection may be announced
// (OnEject) and another replica's applied (Eject), so replicas share them.
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
	// shared is what the versions derived by Rebind have in common: the
	// latest time seen (a request still served by an older version moves
	// time on for the newer one too) and the ejection hook.
	shared *shared
}

type shared struct {
	now     atomic.Int64 // Unix nanoseconds
	onEject atomic.Pointer[EjectHook]
}

// EjectHook is told of every ejection a failure observed here starts or
// lengthens: the route's id, the end of its ejection and its current
// back-off. It runs on the request's goroutine, after the route's lock is
// released, so it must not block.
type EjectHook func(routeID string, until time.Time, backoff time.Duration)

type routeState struct {
	downUntil atomic.Int64  // Unix nanoseconds; ejected while now < downUntil
	fullUntil atomic.Int64  // Unix nanoseconds; at capacity while now < fullUntil
	errRate   atomic.Uint64 // float64 bits
	latency   atomic.Uint64 // float64 bits, seconds

	mu sync.Mutex // guards the fields below and the writes above
	// backoff is the length of the streak's latest ejection; 0 when the
	// route's latest outcome was a success.
	backoff time.Duration
	// ejectedAt is when the latest ejection started, Unix nanoseconds: an
	// outcome of a request sent before it is stale.
	ejectedAt int64
	ejected   bool // ejected by a failure seen here, and no success since
	sampled   bool // latency has a first sample
	rpm       window
}

// NewHealth returns healthy state for routes with the given ids, in index
// order. Ids are unique, as a catalog's route ids are.
func NewHealth(ids ...string) *Health {
	return bind(nil, ids, new(shared))
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
	return bind(old, ids, h.shared)
}

// bind lays out state for ids, taking each route's state from old when it
// has some. A taken state is removed from old, so an id listed twice gets
// fresh state the second time rather than sharing the first's.
func bind(old map[string]*routeState, ids []string, sh *shared) *Health {
	h := &Health{ids: slices.Clone(ids), routes: make([]*routeState, len(ids)), shared: sh}
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
		cur := h.shared.now.Load()
		if t <= cur || h.shared.now.CompareAndSwap(cur, t) {
			return
		}
	}
}

// Route reports a route's state at the latest time Health was given.
// Indexes outside [0, Len) report a healthy route.
func (h *Health) Route(index int) selector.RouteHealth {
	return h.at(index, h.shared.now.Load())
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
	// Ejected: the first failure seen here since the route's latest
	// success; the route is out until DownUntil.
	Ejected
	// Recovered: the first success on a route since its ejection.
	Recovered
)

// Observe records one outcome of a request served by a route, latency
// after it was sent. A failure ejects the route (see EjectBase) and counts
// towards the error rate; a success ends a failure streak and feeds the
// latency average too (a failure's latency says little about the route's
// speed). It reports the failure that ejects a route, or the first success
// after one.
func (h *Health) Observe(index int, latency time.Duration, failed bool, now time.Time) Transition {
	return h.observe(index, latency, failed, 0, now)
}

// ObserveFailure is Observe of a failure whose provider asked, through
// Retry-After, for retryAfter before the next request (0: it did not):
// the ejection lasts at least that, up to RetryAfterMax.
func (h *Health) ObserveFailure(index int, latency, retryAfter time.Duration, now time.Time) Transition {
	return h.observe(index, latency, true, retryAfter, now)
}

func (h *Health) observe(index int, latency time.Duration, failed bool, retryAfter time.Duration, now time.Time) Transition {
	h.Advance(now)
	if index < 0 || index >= len(h.routes) {
		return Unchanged
	}
	r := h.routes[index]
	t := now.UnixNano()
	// When the request was sent: an outcome of a request sent before the
	// latest ejection says nothing the ejection did not already say.
	sent := t - int64(max(latency, 0))
	r.mu.Lock()
	outcome := 0.0
	if failed {
		outcome = 1
	}
	r.errRate.Store(math.Float64bits(ewma(math.Float64frombits(r.errRate.Load()), outcome)))
	if !failed {
		defer r.mu.Unlock()
		sec := max(latency.Seconds(), 0)
		if r.sampled {
			sec = ewma(math.Float64frombits(r.latency.Load()), sec)
		}
		r.sampled = true
		r.latency.Store(math.Float64bits(sec))
		if sent < r.ejectedAt {
			return Unchanged
		}
		r.backoff = 0
		if r.ejected {
			r.ejected = false
			return Recovered
		}
		return Unchanged
	}
	old := r.downUntil.Load()
	until := old
	switch {
	case r.backoff == 0:
		r.backoff = EjectBase
		until = max(until, t+int64(EjectBase))
	case sent >= old:
		// Sent once the last ejection had ended, and failed again.
		r.backoff = min(2*r.backoff, EjectMax)
		until = max(until, t+int64(r.backoff))
	}
	if retryAfter > 0 {
		until = max(until, t+int64(min(retryAfter, RetryAfterMax)))
	}
	lengthened := until > old
	if lengthened {
		r.downUntil.Store(until)
		r.ejectedAt = t
	}
	tr := Unchanged
	if !r.ejected && until > t {
		r.ejected = true
		tr = Ejected
	}
	backoff := r.backoff
	r.mu.Unlock()
	if hook := h.shared.onEject.Load(); lengthened && hook != nil {
		(*hook)(h.ids[index], time.Unix(0, until), backoff)
	}
	return tr
}

// DownUntil is the end of a route's latest ejection (the zero time if it
// was never ejected); the route is ejected while the time Health was
// given is before it. Indexes outside [0, Len) were never ejected.
func (h *Health) DownUntil(index int) time.Time {
	if index < 0 || index >= len(h.routes) {
		return time.Time{}
	}
	if u := h.routes[index].downUntil.Load(); u != 0 {
		return time.Unix(0, u)
	}
	return time.Time{}
}

// OnEject sets the hook told of every ejection a failure observed through
// h, or any version Rebind derives from or with it, starts or lengthens.
// Ejections applied by Eject are not announced again.
func (h *Health) OnEject(hook EjectHook) {
	if hook == nil {
		h.shared.onEject.Store(nil)
		return
	}
	h.shared.onEject.Store(&hook)
}

// RouteIDs returns the ids of the routes h tracks, in index order.
func (h *Health) RouteIDs() []string { return slices.Clone(h.ids) }

// Eject applies an ejection seen elsewhere (another replica): the route
// with id routeID, if h tracks it, is ejected until at least until, and
// its streak's back-off is at least backoff, so that its next failure here
// doubles from there. An ejection that ends at or before the latest time
// Health was given, or no later than the route's own, changes nothing. It
// reports no transition: the replica that saw the failure logs it.
func (h *Health) Eject(routeID string, until time.Time, backoff time.Duration) {
	i := slices.Index(h.ids, routeID)
	if i < 0 {
		return
	}
	r := h.routes[i]
	u, now := until.UnixNano(), h.shared.now.Load()
	if u <= now {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if u <= r.downUntil.Load() {
		return
	}
	r.downUntil.Store(u)
	r.backoff = min(max(r.backoff, backoff, EjectBase), EjectMax)
	// Requests sent before this replica learnt of the ejection are stale,
	// as they would be had it seen the failure itself.
	r.ejectedAt = max(r.ejectedAt, now)
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
