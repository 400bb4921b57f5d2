package extproc

import (
	"encoding/hex"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// runtime is one immutable catalog version, compiled for the hot path. A
// request reads it once, at its request headers, and keeps it to the end.
type runtime struct {
	cat       *config.Catalog
	index     *selector.Index
	keys      map[[32]byte]*config.Key
	providers map[string]*upstream
	health    RouteHealth
	maxBody   int64
	maxDepth  int              // nesting bound of client JSON bodies
	counters  []*routeCounters // by selector.Route.Index
}

// upstream is a provider as the request path needs it.
type upstream struct {
	name       string
	cluster    string
	chatPath   string // pathPrefix + /chat/completions
	authHeader string
	authValue  string // scheme and key, ready to send; never logged
}

// Apply compiles a catalog and swaps it in; it implements config.Receiver.
// An error leaves the current catalog in place. Route health carries over
// from the catalog in force by route id, and the served series of routes
// the new catalog drops are deleted. Calls must not overlap (the catalog
// watcher makes them from one goroutine): one that finds another catalog
// applied while it compiled is refused rather than lose that one's health.
func (s *Server) Apply(c *config.Catalog) error {
	ix, err := selector.NewIndex(c)
	if err != nil {
		return fmt.Errorf("compile routes: %w", err)
	}
	rt := &runtime{
		cat:       c,
		index:     ix,
		keys:      make(map[[32]byte]*config.Key, len(c.Keys)),
		providers: make(map[string]*upstream, len(c.Providers)),
		maxBody:   c.MaxBodyBytes,
		maxDepth:  c.MaxJSONDepth,
	}
	for i := range c.Keys {
		var h [32]byte
		if _, err := hex.Decode(h[:], []byte(c.Keys[i].SHA256)); err != nil {
			return fmt.Errorf("key %s: %w", c.Keys[i].ID, err)
		}
		rt.keys[h] = &c.Keys[i]
	}
	secrets, warnings := config.ResolveSecrets(c, s.opts.getenv, s.opts.readFile)
	for _, w := range warnings {
		s.log.Warn("provider key", zap.String("problem", w))
	}
	for _, w := range c.Warnings {
		s.log.Warn("catalog", zap.String("problem", w))
	}
	for _, p := range c.Providers {
		auth := secrets[p.Name]
		if p.AuthScheme != "" && auth != "" {
			auth = p.AuthScheme + " " + auth
		}
		rt.providers[p.Name] = &upstream{
			name: p.Name, cluster: p.Cluster, chatPath: p.PathPrefix + chatPath,
			authHeader: p.AuthHeader, authValue: auth,
		}
	}
	if lim := s.msgLimit.Load(); lim > 0 && int64(messageLimit(c.MaxBodyBytes)) > lim {
		s.log.Warn("max_body_bytes is above the gRPC message limit fixed at start; larger bodies fail until a restart",
			zap.Int64("max_body_bytes", c.MaxBodyBytes), zap.Int64("grpc_message_limit", lim))
	}

	// From here on nothing can fail but the swap itself.
	prev := s.rt.Load()
	routes := ix.Routes()
	ids := make([]string, len(routes))
	for i, r := range routes {
		ids[i] = r.ID
		rt.counters = append(rt.counters, s.metrics.routeCounters(r.ID))
	}
	var prevHealth RouteHealth
	if prev != nil {
		prevHealth = prev.health
	}
	rt.health = s.opts.newHealth(prevHealth, ids)
	if !s.rt.CompareAndSwap(prev, rt) {
		return errors.New("another catalog was applied meanwhile; this one is refused")
	}
	s.ready.signal()
	if prev != nil {
		s.metrics.forgetRoutes(droppedRoutes(prev.index, ix))
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
