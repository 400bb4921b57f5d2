// Package catalog is the request path's view of one catalog version: the
// route index, the keys by hash and the providers ready to send to, with
// the route health and counters bound to it. Chat and the local answers
// both read it; a request reads the version in force once, at its request
// headers, and keeps it to the end.
package catalog

import (
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// RouteHealth is the live state of the routes of one catalog version, by
// selector.Route.Index.
type RouteHealth interface {
	selector.Health
	// Observe records an outcome and reports whether it ejected the
	// route or was its first success since.
	Observe(route int, latency time.Duration, failed bool, now time.Time) state.Transition
	// ObserveFailure records a failure whose provider asked, through
	// Retry-After, for retryAfter before the next request.
	ObserveFailure(route int, latency, retryAfter time.Duration, now time.Time) state.Transition
	// DownUntil is the end of the route's latest ejection.
	DownUntil(route int) time.Time
	AdmitRoute(route, rpmLimit int, now time.Time) bool
	// Advance moves the view's clock, so ejections end even when no
	// request reaches the ejected routes.
	Advance(now time.Time)
}

// Operation is what a routed request asks of its provider: a metric label.
type Operation uint8

// The operations, as gen_ai_operation_name labels them.
const (
	OpChat Operation = iota
	OpExtraction
	NumOperations
)

// String is the operation's label.
func (o Operation) String() string { return [...]string{"chat", "extraction"}[o] }

// RouteMetrics records what one route served. Implementations resolve
// their series once per catalog version, so the hot path does no label
// lookup.
type RouteMetrics interface {
	// Served counts a request by the status the provider answered with
	// (0: none).
	Served(status int)
	// Finished records a routed request's duration, from its routing to
	// the end of its answer; errorType is empty on success.
	Finished(op Operation, d time.Duration, errorType string)
	// FirstToken records a stream's time from its routing to its first
	// answer chunk.
	FirstToken(op Operation, d time.Duration)
	// Tokens records the usage a provider reported.
	Tokens(op Operation, input, output int64)
}

// Source gives the version in force; nil before the first.
// *atomic.Pointer[Version] is one.
type Source interface {
	Load() *Version
}

var _ Source = (*atomic.Pointer[Version])(nil)

// Version is one immutable catalog version, compiled for the hot path.
type Version struct {
	Catalog   *config.Catalog
	Index     *selector.Index
	Providers map[string]*Upstream
	Health    RouteHealth
	// Routes are the routes' metrics, by selector.Route.Index.
	Routes   []RouteMetrics
	MaxBody  int64 // largest client body
	MaxDepth int   // nesting bound of client JSON bodies
	keys     map[[32]byte]*config.Key
}

// Compile builds the version of c. secrets are the providers' keys by
// provider name; bind gives the version its route health from its route
// ids, in selector.Route.Index order; metrics gives each route its series.
// Only a catalog config.Load would refuse fails here.
func Compile(c *config.Catalog, secrets map[string]string, bind func(ids []string) RouteHealth,
	metrics func(r *selector.Route) RouteMetrics) (*Version, error) {
	ix, err := selector.NewIndex(c)
	if err != nil {
		return nil, fmt.Errorf("compile routes: %w", err)
	}
	v := &Version{
		Catalog:   c,
		Index:     ix,
		keys:      make(map[[32]byte]*config.Key, len(c.Keys)),
		Providers: make(map[string]*Upstream, len(c.Providers)),
		MaxBody:   c.MaxBodyBytes,
		MaxDepth:  c.MaxJSONDepth,
	}
	for i := range c.Keys {
		var h [32]byte
		if _, err := hex.Decode(h[:], []byte(c.Keys[i].SHA256)); err != nil {
			return nil, fmt.Errorf("key %s: %w", c.Keys[i].ID, err)
		}
		v.keys[h] = &c.Keys[i]
	}
	for _, p := range c.Providers {
		v.Providers[p.Name] = newUpstream(p, secrets[p.Name])
	}
	routes := ix.Routes()
	ids := make([]string, len(routes))
	for i, r := range routes {
		ids[i] = r.ID
		v.Routes = append(v.Routes, metrics(r))
	}
	v.Health = bind(ids)
	return v, nil
}

// CanRoute reports whether any available tier has a live route.
func (v *Version) CanRoute(now time.Time) bool {
	v.Health.Advance(now)
	for _, t := range v.Index.Tiers() {
		if t.Status == config.TierAvailable && v.Index.LiveCount(t, v.Health) > 0 {
			return true
		}
	}
	return false
}
