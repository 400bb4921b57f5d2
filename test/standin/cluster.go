package standin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// The ext_proc cluster. Envoy's cluster holds one or more endpoints; its
// round-robin load balancer (source/common/upstream/load_balancer_impl.cc)
// gives each new gRPC stream to the next healthy host in turn, and once
// fewer than half of the hosts are healthy (healthy_panic_threshold, 50 %
// by default) it ignores health and spreads over all of them. Health comes
// from the cluster's active health checker when health_checks is set;
// without it every host counts as healthy. A host that turns unhealthy gets
// no new stream; the streams already open on it run to their end, since
// health only steers the choice of host.

// HealthCheck is the ext_proc cluster's health_checks entry with a
// grpc_health_check: every Interval each host is asked grpc.health.v1
// Health/Check for ServiceName.
type HealthCheck struct {
	// Interval between checks of one host; required.
	Interval time.Duration
	// Timeout bounds one check; 0 means Interval.
	Timeout time.Duration
	// UnhealthyThreshold is how many failed checks in a row, of the kind
	// that says nothing about the server (connection refused, timeout),
	// mark a host unhealthy; 0 means 1. An answer other than SERVING marks
	// it unhealthy at once, whatever the threshold, as in Envoy.
	UnhealthyThreshold int
	// HealthyThreshold is how many SERVING answers in a row mark an
	// unhealthy host healthy again; 0 means 1. A host's very first check
	// needs only one, as in Envoy.
	HealthyThreshold int
	// ServiceName is grpc_health_check.service_name; "" is the server as a whole.
	ServiceName string
}

// errNoHost cannot happen with a validated Config; it guards the picker.
var errNoHost = errors.New("standin: the ext_proc cluster has no endpoint")

// host is one endpoint of the ext_proc cluster.
type host struct {
	addr   string
	conn   *grpc.ClientConn
	client extprocv3.ExternalProcessorClient
	// healthy is the host's health as the checker last decided it; true
	// from the start when no health check is configured.
	healthy atomic.Bool
	// streams counts the streams the balancer gave this host.
	streams atomic.Uint64

	// Owned by the host's checker goroutine.
	checked      bool // a first check has completed
	numHealthy   int
	numUnhealthy int
}

// EndpointStatus is one ext_proc endpoint as the cluster sees it.
type EndpointStatus struct {
	Addr    string
	Healthy bool
	// Streams is how many ext_proc streams were given to the endpoint.
	Streams uint64
}

// Endpoints reports the ext_proc cluster's endpoints in configuration order.
func (p *Proxy) Endpoints() []EndpointStatus {
	out := make([]EndpointStatus, len(p.hosts))
	for i, h := range p.hosts {
		out[i] = EndpointStatus{Addr: h.addr, Healthy: h.healthy.Load(), Streams: h.streams.Load()}
	}
	return out
}

// endpointsOf lists the cluster's endpoints: ExtProcAddr, then ExtProcAddrs.
func endpointsOf(cfg Config) []string {
	return append([]string{cfg.ExtProcAddr}, cfg.ExtProcAddrs...)
}

func checkHealthCheck(hc *HealthCheck) error {
	if hc == nil {
		return nil
	}
	if hc.Interval <= 0 {
		return errors.New("standin: HealthCheck.Interval must be positive")
	}
	if hc.Timeout < 0 || hc.UnhealthyThreshold < 0 || hc.HealthyThreshold < 0 {
		return errors.New("standin: HealthCheck values must not be negative")
	}
	return nil
}

// dialHost prepares the channel to one endpoint; grpc-go connects lazily.
func (p *Proxy) dialHost(addr string) (*host, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Envoy's gRPC client has no receive limit.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithInitialWindowSize(p.cfg.InitialStreamWindowSize),
		grpc.WithInitialConnWindowSize(p.cfg.InitialConnectionWindowSize),
		grpc.WithContextDialer(p.dialExtProc),
	}
	if p.cfg.HealthCheck != nil {
		// Envoy's connection pool dials a host when a stream needs it, with
		// no backoff; grpc-go backs off up to two minutes after a refused
		// dial. A replica restarted on the same address would then look
		// healthy to the checker while its channel still waits, so the
		// backoff is kept below one check interval.
		opts = append(opts, grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: p.cfg.HealthCheck.Interval},
			MinConnectTimeout: 5 * time.Second,
		}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("standin: ext_proc channel to %s: %w", addr, err)
	}
	h := &host{addr: addr, conn: conn, client: extprocv3.NewExternalProcessorClient(conn)}
	// Envoy starts an actively checked host as failed until its first check
	// passes; an unchecked host is healthy.
	h.healthy.Store(p.cfg.HealthCheck == nil)
	return h, nil
}

// pickHost is the round-robin balancer with Envoy's panic threshold.
func (p *Proxy) pickHost() (*host, error) {
	if len(p.hosts) == 0 {
		return nil, errNoHost
	}
	if len(p.hosts) == 1 {
		h := p.hosts[0]
		h.streams.Add(1)
		return h, nil
	}
	healthy := make([]*host, 0, len(p.hosts))
	for _, h := range p.hosts {
		if h.healthy.Load() {
			healthy = append(healthy, h)
		}
	}
	// Panic mode: under 50 % healthy, all hosts take traffic.
	if 2*len(healthy) < len(p.hosts) {
		healthy = p.hosts
	}
	n := p.rr.Add(1) - 1
	h := healthy[n%uint64(len(healthy))]
	h.streams.Add(1)
	return h, nil
}

// startHealthChecks starts one checker per host, owned by the proxy and
// stopped by Close.
func (p *Proxy) startHealthChecks() {
	hc := p.cfg.HealthCheck
	if hc == nil {
		return
	}
	for _, h := range p.hosts {
		p.checkers.Add(1)
		go func() {
			defer p.checkers.Done()
			p.runChecks(h, *hc)
		}()
	}
}

// runChecks checks h at once and then every interval after the previous
// check ended, as Envoy's checker schedules its next interval when a check
// completes (source/common/upstream/health_checker_base_impl.cc).
func (p *Proxy) runChecks(h *host, hc HealthCheck) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-timer.C:
		}
		p.checkOnce(h, hc)
		timer.Reset(hc.Interval)
	}
}

// checkOnce runs one Health/Check and applies Envoy's transitions
// (ActiveHealthCheckSession::handleSuccess and handleFailure): a
// non-SERVING answer is an ACTIVE failure and marks the host unhealthy at
// once; a failed or timed-out call is a NETWORK failure and counts toward
// UnhealthyThreshold; SERVING counts toward HealthyThreshold, except that
// the host's first check ever is enough alone.
func (p *Proxy) checkOnce(h *host, hc HealthCheck) {
	timeout := hc.Timeout
	if timeout == 0 {
		timeout = hc.Interval
	}
	// Close waits for at most one timeout: checks are short by design.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if h.conn.GetState() == connectivity.TransientFailure {
		// Envoy's checker opens a fresh connection for each check after a
		// failure; grpc-go would otherwise wait out its backoff.
		h.conn.ResetConnectBackoff()
	}
	resp, err := healthpb.NewHealthClient(h.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: hc.ServiceName})
	first := !h.checked
	h.checked = true
	switch {
	case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
		h.numUnhealthy = 0
		if h.healthy.Load() {
			return
		}
		h.numHealthy++
		if first || h.numHealthy >= max(hc.HealthyThreshold, 1) {
			h.healthy.Store(true)
			h.numHealthy = 0
			p.logf("standin: ext_proc host %s healthy", h.addr)
		}
	case err == nil || isActiveFailure(err):
		h.numHealthy = 0
		if h.healthy.Swap(false) {
			p.logf("standin: ext_proc host %s unhealthy: %v", h.addr, describe(resp, err))
		}
	default:
		h.numHealthy = 0
		if !h.healthy.Load() {
			return
		}
		h.numUnhealthy++
		if h.numUnhealthy >= max(hc.UnhealthyThreshold, 1) {
			h.healthy.Store(false)
			h.numUnhealthy = 0
			p.logf("standin: ext_proc host %s unhealthy: %v", h.addr, err)
		}
	}
}

// isActiveFailure tells a gRPC status the server sent (Envoy's ACTIVE
// failure: the host answered, and not OK) from a transport failure or
// timeout (NETWORK), which grpc-go reports as Unavailable or
// DeadlineExceeded.
func isActiveFailure(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return false
	}
	return true
}

func describe(resp *healthpb.HealthCheckResponse, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.GetStatus().String()
}

// closeHosts closes every host's channel and waits for the checkers.
func (p *Proxy) closeHosts() error {
	var errs []error
	for _, h := range p.hosts {
		if err := h.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("standin: close ext_proc channel to %s: %w", h.addr, err))
		}
	}
	p.checkers.Wait()
	return errors.Join(errs...)
}
