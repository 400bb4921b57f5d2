package envoy_test

// Settings of envoy.yaml that a real deployment depends on and that no stand-in run would reveal if
// they drifted: how the client's address is determined, how many concurrent long streams Envoy lets
// through before answering 503 itself, and whether its keepalive pings are ones the sidecar's gRPC
// server tolerates. Each is a check function, so that TestInvariantChecksCatchBrokenVariants can
// prove it fails on a config broken in exactly that place.

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"

	"github.com/cpen/router/extproc"
)

// sourceAddressAttr is the Envoy attribute holding the downstream remote address.
const sourceAddressAttr = "source.address"

// Circuit-breaker floors for provider clusters. Envoy's documented defaults are 1024 connections,
// 1024 pending and 1024 parallel requests per cluster and 3 parallel retries; an SSE stream holds a
// request (and, over HTTP/1.1, a connection) for minutes, so the floors sit an order of magnitude
// above the defaults, and retries stay at or below the default.
const (
	minStreams    = 10000 // max_requests and max_connections
	minPending    = 4096  // max_pending_requests
	maxRetriesCap = 3     // max_retries, which must be set
)

// checkClientAddress: the client's address is the TCP peer (no trusted hops, said explicitly), no
// client is internal, and ext_proc receives that address as source.address.
func checkClientAddress(p mainParts) error {
	var errs []error
	if !p.hcm.GetUseRemoteAddress().GetValue() {
		errs = append(errs, errors.New("use_remote_address must be true: otherwise the client's address is whatever x-forwarded-for says"))
	}
	if _, ok := p.hcmYAML["xff_num_trusted_hops"]; !ok {
		errs = append(errs, errors.New("xff_num_trusted_hops is not written out: it is the one setting to change behind a balancer"))
	}
	if n := p.hcm.GetXffNumTrustedHops(); n != 0 {
		errs = append(errs, fmt.Errorf("xff_num_trusted_hops = %d, want 0 (the sidecar listens to clients directly)", n))
	}
	iac := p.hcm.GetInternalAddressConfig()
	if iac == nil {
		errs = append(errs, errors.New("internal_address_config is not set: some Envoy versions then treat private addresses as internal"))
	} else if !proto.Equal(iac, iac.ProtoReflect().Type().New().Interface()) {
		errs = append(errs, fmt.Errorf("internal_address_config = %v, want {} (no client is internal)", iac))
	}
	if attrs := p.extproc.GetRequestAttributes(); !slices.Contains(attrs, sourceAddressAttr) {
		errs = append(errs, fmt.Errorf("ext_proc request_attributes = %v, want it to contain %s", attrs, sourceAddressAttr))
	}
	return errors.Join(errs...)
}

// defaultThresholds is the threshold Envoy applies at DEFAULT priority: the first one listed for it.
func defaultThresholds(c *clusterv3.Cluster) *clusterv3.CircuitBreakers_Thresholds {
	for _, th := range c.GetCircuitBreakers().GetThresholds() {
		if th.GetPriority() == corev3.RoutingPriority_DEFAULT {
			return th
		}
	}
	return nil
}

// checkCircuitBreakers: every cluster but the ext_proc one is a provider cluster (the demo's mock
// included) and must admit minStreams concurrent streams; the ext_proc cluster, which carries one
// gRPC stream per in-flight request, must admit at least as many as any provider cluster.
func checkCircuitBreakers(p mainParts) error {
	var errs []error
	names := make([]string, 0, len(p.clusters))
	for name := range p.clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	var widest uint32
	for _, name := range names {
		if name == extprocCluster {
			continue
		}
		th := defaultThresholds(p.clusters[name])
		if th == nil {
			errs = append(errs, fmt.Errorf("cluster %s: no DEFAULT circuit_breakers thresholds, so Envoy's 1024 applies", name))
			continue
		}
		conns, reqs := th.GetMaxConnections(), th.GetMaxRequests()
		pending, retries := th.GetMaxPendingRequests(), th.GetMaxRetries()
		if conns.GetValue() < minStreams {
			errs = append(errs, fmt.Errorf("cluster %s: max_connections = %d, want >= %d", name, conns.GetValue(), minStreams))
		}
		if reqs.GetValue() < minStreams {
			errs = append(errs, fmt.Errorf("cluster %s: max_requests = %d, want >= %d", name, reqs.GetValue(), minStreams))
		}
		if conns.GetValue() < reqs.GetValue() {
			errs = append(errs, fmt.Errorf("cluster %s: max_connections %d < max_requests %d, but each HTTP/1.1 stream holds a connection", name, conns.GetValue(), reqs.GetValue()))
		}
		if pending.GetValue() < minPending {
			errs = append(errs, fmt.Errorf("cluster %s: max_pending_requests = %d, want >= %d", name, pending.GetValue(), minPending))
		}
		if retries == nil || retries.GetValue() > maxRetriesCap {
			errs = append(errs, fmt.Errorf("cluster %s: max_retries = %v, want set and <= %d", name, retries, maxRetriesCap))
		}
		widest = max(widest, reqs.GetValue())
	}
	ext, ok := p.clusters[extprocCluster]
	if !ok {
		return errors.Join(append(errs, fmt.Errorf("cluster %s missing", extprocCluster))...)
	}
	if th := defaultThresholds(ext); th == nil || th.GetMaxRequests().GetValue() < widest {
		errs = append(errs, fmt.Errorf("cluster %s: max_requests = %d, want >= %d (the widest provider cluster): each in-flight request holds one ext_proc stream",
			extprocCluster, th.GetMaxRequests().GetValue(), widest))
	}
	return errors.Join(errs...)
}

// extprocKeepalive is the ext_proc cluster's HTTP/2 connection_keepalive.
func extprocKeepalive(p mainParts) (*corev3.KeepaliveSettings, error) {
	c, ok := p.clusters[extprocCluster]
	if !ok {
		return nil, fmt.Errorf("cluster %s missing", extprocCluster)
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := c.GetTypedExtensionProtocolOptions()[http2OptsKey].UnmarshalTo(opts); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", http2OptsKey, err)
	}
	ka := opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions().GetConnectionKeepalive()
	if ka == nil {
		return nil, errors.New("the ext_proc cluster has no connection_keepalive: a dead sidecar connection would go unnoticed")
	}
	return ka, nil
}

// checkKeepalive: Envoy pings the sidecar every interval whatever the traffic; the gRPC server
// answers pings closer together than extproc.KeepaliveMinTime with GOAWAY, which kills every open
// stream. The interval must stay strictly above it, so changing either side alone fails here.
func checkKeepalive(p mainParts) error {
	ka, err := extprocKeepalive(p)
	if err != nil {
		return err
	}
	var errs []error
	interval := ka.GetInterval().AsDuration()
	if interval <= extproc.KeepaliveMinTime {
		errs = append(errs, fmt.Errorf("connection_keepalive.interval = %v, want > %v (extproc.KeepaliveMinTime)", interval, extproc.KeepaliveMinTime))
	}
	if timeout := ka.GetTimeout().AsDuration(); timeout <= 0 || timeout >= interval {
		errs = append(errs, fmt.Errorf("connection_keepalive.timeout = %v, want > 0 and < interval %v", timeout, interval))
	}
	return errors.Join(errs...)
}

// keepaliveYAML is a connection_keepalive with the given interval, written as the proto's JSON
// duration (seconds with a fraction), and the smallest timeout Envoy accepts (1 ms), so that only
// the interval is off.
func keepaliveYAML(interval time.Duration) string {
	return fmt.Sprintf("connection_keepalive: {interval: %ss, timeout: 0.001s}", strconv.FormatFloat(interval.Seconds(), 'f', -1, 64))
}

func TestClientAddress(t *testing.T) {
	if err := checkClientAddress(loadMain(t)); err != nil {
		t.Fatal(err)
	}
}

func TestProviderCircuitBreakers(t *testing.T) {
	p := loadMain(t)
	if err := checkCircuitBreakers(p); err != nil {
		t.Fatal(err)
	}
	// The check only means something if it saw every provider of the default catalog.
	for _, prov := range loadCatalog(t).Providers {
		if defaultThresholds(p.clusters[prov.Cluster]) == nil {
			t.Errorf("catalog cluster %s has no DEFAULT thresholds", prov.Cluster)
		}
	}
}

func TestKeepaliveAboveServerMinimum(t *testing.T) {
	p := loadMain(t)
	if err := checkKeepalive(p); err != nil {
		t.Fatal(err)
	}
	ka, err := extprocKeepalive(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := [2]time.Duration{ka.GetInterval().AsDuration(), ka.GetTimeout().AsDuration()}; got != [2]time.Duration{30 * time.Second, 5 * time.Second} {
		t.Errorf("connection_keepalive = %v/%v, want 30s/5s", got[0], got[1])
	}
}

// TestInvariantChecksCatchBrokenVariants breaks envoy.yaml in one place per case and expects the
// named check, and only an error naming the broken setting, to fail.
func TestInvariantChecksCatchBrokenVariants(t *testing.T) {
	good, err := os.ReadFile(mainConfig)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	const mockTail = "        max_requests: 16384\n        max_retries: 3\n    load_assignment:\n      cluster_name: mock_provider\n"
	tests := []struct {
		name    string
		check   func(mainParts) error
		old     string // must occur exactly once in envoy.yaml
		new     string
		wantErr string
	}{
		{"use_remote_address off", checkClientAddress,
			"use_remote_address: true", "use_remote_address: false", "use_remote_address"},
		{"one trusted hop", checkClientAddress,
			"xff_num_trusted_hops: 0", "xff_num_trusted_hops: 1", "xff_num_trusted_hops = 1"},
		{"trusted hops left implicit", checkClientAddress,
			"          xff_num_trusted_hops: 0\n", "", "not written out"},
		{"internal_address_config missing", checkClientAddress,
			"          internal_address_config: {}\n", "", "internal_address_config is not set"},
		{"private range internal", checkClientAddress,
			"internal_address_config: {}", "internal_address_config: {cidr_ranges: [{address_prefix: 10.0.0.0, prefix_len: 8}]}", "want {}"},
		{"no source.address attribute", checkClientAddress,
			"request_attributes: [source.address]", "request_attributes: [request.path]", "source.address"},
		{"provider at Envoy's default requests", checkCircuitBreakers,
			"        max_requests: 16384\n        max_retries: 3\n    load_assignment:\n      cluster_name: provider_gemini\n",
			"        max_requests: 1024\n        max_retries: 3\n    load_assignment:\n      cluster_name: provider_gemini\n",
			"cluster provider_gemini: max_requests = 1024"},
		{"fewer connections than requests", checkCircuitBreakers,
			"        max_connections: 16384\n        max_pending_requests: 4096\n        max_requests: 16384\n        max_retries: 3\n    load_assignment:\n      cluster_name: provider_openai\n",
			"        max_connections: 12000\n        max_pending_requests: 4096\n        max_requests: 16384\n        max_retries: 3\n    load_assignment:\n      cluster_name: provider_openai\n",
			"cluster provider_openai: max_connections 12000 < max_requests 16384"},
		{"pending at Envoy's default", checkCircuitBreakers,
			"        max_pending_requests: 4096\n        max_requests: 16384\n        max_retries: 3\n    load_assignment:\n      cluster_name: provider_mistral\n",
			"        max_pending_requests: 1024\n        max_requests: 16384\n        max_retries: 3\n    load_assignment:\n      cluster_name: provider_mistral\n",
			"cluster provider_mistral: max_pending_requests = 1024"},
		{"retries left to the default", checkCircuitBreakers,
			mockTail, strings.Replace(mockTail, "        max_retries: 3\n", "", 1), "cluster mock_provider: max_retries"},
		{"thresholds only for HIGH priority", checkCircuitBreakers,
			"    connect_timeout: 1s\n    circuit_breakers:\n      thresholds:\n      - priority: DEFAULT\n",
			"    connect_timeout: 1s\n    circuit_breakers:\n      thresholds:\n      - priority: HIGH\n",
			"cluster mock_provider: no DEFAULT"},
		{"ext_proc narrower than providers", checkCircuitBreakers,
			"        max_requests: 16384\n        max_pending_requests: 8192\n", "        max_requests: 8192\n        max_pending_requests: 8192\n",
			"cluster cpen_extproc: max_requests = 8192"},
		{"keepalive at the server minimum", checkKeepalive,
			"connection_keepalive: {interval: 30s, timeout: 5s}", keepaliveYAML(extproc.KeepaliveMinTime), "interval = " + extproc.KeepaliveMinTime.String()},
		{"keepalive below the server minimum", checkKeepalive,
			"connection_keepalive: {interval: 30s, timeout: 5s}", keepaliveYAML(extproc.KeepaliveMinTime / 2), "interval = " + (extproc.KeepaliveMinTime / 2).String()},
		{"keepalive timeout not below interval", checkKeepalive,
			"connection_keepalive: {interval: 30s, timeout: 5s}", "connection_keepalive: {interval: 30s, timeout: 30s}", "timeout = 30s"},
		{"no keepalive", checkKeepalive,
			"            connection_keepalive: {interval: 30s, timeout: 5s}\n", "", "no connection_keepalive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := strings.Count(string(good), tt.old); n != 1 {
				t.Fatalf("%q occurs %d times in %s, want 1: update this case", tt.old, n, mainConfig)
			}
			p, err := parseMain([]byte(strings.Replace(string(good), tt.old, tt.new, 1)))
			if err != nil {
				t.Fatalf("the broken variant must still load, so that only the check can reject it: %v", err)
			}
			err = tt.check(p)
			if err == nil {
				t.Fatal("the check accepted a broken config")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}
