package extproc

import (
	"errors"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/redisstate"
)

// Apply compiles a catalog and swaps it in; it implements config.Receiver.
// An error leaves the current catalog in place. Route health carries over
// from the catalog in force by route id, and the served series of routes
// the new catalog drops are deleted. Calls must not overlap (the catalog
// watcher makes them from one goroutine): one that finds another catalog
// applied while it compiled is refused rather than lose that one's health.
func (s *Server) Apply(c *config.Catalog) error {
	secrets, warnings := config.ResolveSecrets(c, s.opts.getenv, s.opts.readFile)
	for _, w := range warnings {
		s.log.Warn("provider key", zap.String("problem", w))
	}
	// A catalog that names no key source for a provider means it takes none
	// (a local or mock upstream), so that is news, not a problem: one line.
	if keyless := config.Keyless(c); len(keyless) > 0 {
		s.log.Info("providers without an API key: their requests go out without one", zap.Strings("providers", keyless))
	}
	for _, w := range c.Warnings {
		s.log.Warn("catalog", zap.String("problem", w))
	}
	prev := s.versions.Load()
	var prevHealth RouteHealth
	if prev != nil {
		prevHealth = prev.Health
	}
	v, err := catalog.Compile(c, secrets,
		func(ids []string) catalog.RouteHealth { return s.opts.newHealth(prevHealth, ids) },
		func(r *selector.Route) catalog.RouteMetrics { return s.metrics.routeSeries(r) })
	if err != nil {
		return err
	}
	if lim := s.msgLimit.Load(); lim > 0 && int64(messageLimit(c.MaxBodyBytes)) > lim {
		s.log.Warn("max_body_bytes is above the gRPC message limit fixed at start; larger bodies fail until a restart",
			zap.Int64("max_body_bytes", c.MaxBodyBytes), zap.Int64("grpc_message_limit", lim))
	}
	if !s.versions.CompareAndSwap(prev, v) {
		return errors.New("another catalog was applied meanwhile; this one is refused")
	}
	s.ready.signal()
	s.metrics.catalogApplied(c, s.opts.now())
	if prev != nil {
		s.metrics.forgetRoutes(droppedRoutes(prev.Index, v.Index))
	}
	s.log.Info("catalog applied", zap.Int("tiers", len(c.Tiers)), zap.Int("routes", len(c.Routes)),
		zap.Int("providers", len(c.Providers)), zap.Int("keys", len(c.Keys)))
	return nil
}

// carryHealth is the default HealthBinder: in-process state, rebound by
// route id from one catalog version to the next.
func carryHealth(prev RouteHealth, ids []string) RouteHealth {
	if h, ok := prev.(*state.Health); ok {
		return h.Rebind(ids...)
	}
	return state.NewHealth(ids...)
}

// sharedHealth is the HealthBinder when Redis is configured: carryHealth,
// with every ejection this replica starts published through share, and
// latest set to the health that other replicas' ejections land on.
func sharedHealth(share *redisstate.SharedHealth, latest *atomic.Pointer[state.Health]) HealthBinder {
	return func(prev RouteHealth, ids []string) RouteHealth {
		h := carryHealth(prev, ids)
		if sh, ok := h.(*state.Health); ok {
			if prev == nil {
				sh.OnEject(share.Publish) // versions Rebind derives share it
			}
			latest.Store(sh)
		}
		return h
	}
}

// droppedRoutes lists the ids of the routes of prev that next lacks.
func droppedRoutes(prev, next *selector.Index) []string {
	var gone []string
	for _, r := range prev.Routes() {
		if _, ok := next.RouteByID(r.ID); !ok {
			gone = append(gone, r.ID)
		}
	}
	return gone
}
