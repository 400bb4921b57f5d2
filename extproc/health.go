package extproc

import (
	"context"
	"sync"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthRecheck is how often a Watch stream re-reads readiness between
// changes it is told of: route ejections end with time, not with an event.
const healthRecheck = time.Second

// grpcHealth answers the gRPC health service from the server's readiness,
// so that it can never say SERVING while /readyz says otherwise: a catalog
// loaded, a tier that can route, and not draining.
type grpcHealth struct {
	healthpb.UnimplementedHealthServer
	srv     *Server
	recheck time.Duration
	// stop ends every Watch stream, so that a graceful stop does not wait
	// on health watchers that would never end by themselves.
	stop chan struct{}
	once sync.Once
}

func newGRPCHealth(s *Server) *grpcHealth {
	return &grpcHealth{srv: s, recheck: healthRecheck, stop: make(chan struct{})}
}

// RedisHealthService is the health service name of the shared state: NOT_SERVING
// while Redis fails (the sidecar serves on, degraded, as its failure mode
// says), SERVING otherwise, and when no Redis is configured.
const RedisHealthService = "cpen.redis"

// knownService reports whether the health service answers for a name: the
// whole server ("") or the ext_proc service, and the shared state.
func knownService(name string) bool {
	return name == "" || name == extprocv3.ExternalProcessor_ServiceDesc.ServiceName || name == RedisHealthService
}

func (h *grpcHealth) status(service string) healthpb.HealthCheckResponse_ServingStatus {
	ok := h.srv.Ready()
	if service == RedisHealthService {
		ok = !h.srv.SharedStateDown()
	}
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// Check answers with the readiness of the moment.
func (h *grpcHealth) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !knownService(req.GetService()) {
		return nil, status.Error(codes.NotFound, "unknown service")
	}
	return &healthpb.HealthCheckResponse{Status: h.status(req.GetService())}, nil
}

// Watch sends the readiness at once, then each change: at once for a
// catalog applied or the start of draining, otherwise within recheck.
func (h *grpcHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if !knownService(req.GetService()) {
		return stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVICE_UNKNOWN})
	}
	tick := time.NewTicker(h.recheck)
	defer tick.Stop()
	last := healthpb.HealthCheckResponse_SERVICE_UNKNOWN
	for {
		changed := h.srv.readinessChanged()
		if st := h.status(req.GetService()); st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-h.stop:
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// Shutdown ends the Watch streams; Check keeps answering, NOT_SERVING once
// the server drains.
func (h *grpcHealth) Shutdown() { h.once.Do(func() { close(h.stop) }) }
