package envoy_test

// No Envoy binary runs on our machines, so these tests are the gate for envoy/*.yaml: every file
// must parse into the go-control-plane Bootstrap proto exactly (no unknown fields), pass the
// protoc-gen-validate rules Envoy itself enforces at load time, including those of every config
// packed in a google.protobuf.Any, and keep the settings the sidecar's state machine relies on.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"go.yaml.in/yaml/v3"

	"github.com/cpen/router/envoy"
)

const (
	mainConfig     = "envoy.yaml"
	catalogPath    = "../config/default_catalog.yaml"
	clusterHeader  = "x-cpen-upstream-cluster"
	extprocCluster = "cpen_extproc"
	mockCluster    = "mock_provider"
	systemCABundle = "/etc/ssl/certs/ca-certificates.crt"
	http2OptsKey   = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	extprocFilter  = "envoy.filters.http.ext_proc"
	routerFilter   = "envoy.filters.http.router"
)

// loadBootstrap reads an Envoy bootstrap file and returns it only if envoy.Load accepts it.
func loadBootstrap(path string) (*bootstrapv3.Bootstrap, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	bs, err := envoy.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bs, nil
}

func TestEveryConfigFileLoads(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatalf("glob: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml in envoy/: the bootstrap is missing")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if _, err := loadBootstrap(f); err != nil {
				t.Fatalf("loadBootstrap: %v", err)
			}
		})
	}
}

// TestLoaderRejectsBrokenConfigs proves the check can fail: each case breaks envoy.yaml in one
// place, at a different depth (plain YAML, Bootstrap field, inside an Any, inside a map of Any).
func TestLoaderRejectsBrokenConfigs(t *testing.T) {
	good, err := os.ReadFile(mainConfig)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	tests := []struct {
		name    string
		old     string // must occur exactly once in envoy.yaml
		new     string
		wantErr string
	}{
		{
			name:    "yaml syntax",
			old:     "static_resources:",
			new:     "static_resources: [",
			wantErr: "parse YAML",
		},
		{
			name:    "unknown bootstrap field",
			old:     "static_resources:",
			new:     "not_a_bootstrap_field: 1\nstatic_resources:",
			wantErr: "not_a_bootstrap_field",
		},
		{
			name:    "unknown field inside HCM Any",
			old:     "stat_prefix: cpen\n",
			new:     "stat_prefix: cpen\n          not_an_hcm_field: true\n",
			wantErr: "not_an_hcm_field",
		},
		{
			name:    "unresolvable @type",
			old:     "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
			new:     "type.googleapis.com/envoy.extensions.filters.http.router.v3.NoSuchRouter",
			wantErr: "NoSuchRouter",
		},
		{
			name:    "negative message_timeout in ext_proc",
			old:     "message_timeout: 10s",
			new:     "message_timeout: -1s",
			wantErr: "MessageTimeout",
		},
		{
			name:    "bootstrap rule: zero connect_timeout",
			old:     "connect_timeout: 2s",
			new:     "connect_timeout: 0s",
			wantErr: "ConnectTimeout",
		},
		{
			name:    "HTTP/2 window below minimum in protocol options map",
			old:     "initial_stream_window_size: 1048576",
			new:     "initial_stream_window_size: 100",
			wantErr: "InitialStreamWindowSize",
		},
		{
			name:    "TLS sni over 255 bytes",
			old:     "sni: api.openai.com",
			new:     "sni: " + strings.Repeat("a", 300) + ".example",
			wantErr: "Sni",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := strings.Count(string(good), tt.old); n != 1 {
				t.Fatalf("%q occurs %d times in %s, want 1: update this case", tt.old, n, mainConfig)
			}
			path := filepath.Join(t.TempDir(), "broken.yaml")
			broken := strings.Replace(string(good), tt.old, tt.new, 1)
			if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
				t.Fatalf("write: %v", err)
			}
			_, err := loadBootstrap(path)
			if err == nil {
				t.Fatal("loadBootstrap accepted a broken config")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
			t.Logf("rejected as expected: %v", err)
		})
	}
}

// mainParts is envoy.yaml unpacked down to the pieces the assertions need.
type mainParts struct {
	bs       *bootstrapv3.Bootstrap
	listener *listenerv3.Listener
	hcm      *hcmv3.HttpConnectionManager
	extproc  *extprocv3.ExternalProcessor
	route    *routev3.Route
	clusters map[string]*clusterv3.Cluster
	// hcmYAML is the connection manager's typed_config as written, for settings whose zero value
	// must still be spelled out (the proto cannot tell 0 from absent).
	hcmYAML map[string]any
}

func loadMain(t *testing.T) mainParts {
	t.Helper()
	raw, err := os.ReadFile(mainConfig)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	p, err := parseMain(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// parseMain loads a bootstrap shaped like envoy.yaml: one listener with one connection manager
// running ext_proc then the router, and one route.
func parseMain(raw []byte) (mainParts, error) {
	bs, err := envoy.Load(raw)
	if err != nil {
		return mainParts{}, fmt.Errorf("envoy.Load: %w", err)
	}
	p := mainParts{bs: bs, clusters: map[string]*clusterv3.Cluster{}}
	for _, c := range bs.GetStaticResources().GetClusters() {
		p.clusters[c.GetName()] = c
	}
	listeners := bs.GetStaticResources().GetListeners()
	if len(listeners) != 1 {
		return p, fmt.Errorf("listeners = %d, want 1", len(listeners))
	}
	p.listener = listeners[0]
	chains := p.listener.GetFilterChains()
	if len(chains) != 1 || len(chains[0].GetFilters()) != 1 {
		return p, fmt.Errorf("want one filter chain with one network filter (the HCM)")
	}
	p.hcm = &hcmv3.HttpConnectionManager{}
	if err := chains[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(p.hcm); err != nil {
		return p, fmt.Errorf("network filter is not an HCM: %w", err)
	}
	filters := p.hcm.GetHttpFilters()
	if len(filters) != 2 || filters[0].GetName() != extprocFilter || filters[1].GetName() != routerFilter {
		return p, fmt.Errorf("http_filters = %v, want [%s %s]", filterNames(filters), extprocFilter, routerFilter)
	}
	p.extproc = &extprocv3.ExternalProcessor{}
	if err := filters[0].GetTypedConfig().UnmarshalTo(p.extproc); err != nil {
		return p, fmt.Errorf("first http filter is not ext_proc: %w", err)
	}
	if err := filters[1].GetTypedConfig().UnmarshalTo(&routerv3.Router{}); err != nil {
		return p, fmt.Errorf("last http filter is not the router: %w", err)
	}
	vhosts := p.hcm.GetRouteConfig().GetVirtualHosts()
	if len(vhosts) != 1 || len(vhosts[0].GetRoutes()) != 1 {
		return p, fmt.Errorf("want one inline virtual host with one route")
	}
	if got := vhosts[0].GetDomains(); len(got) != 1 || got[0] != "*" {
		return p, fmt.Errorf("virtual host domains = %v, want [*]", got)
	}
	p.route = vhosts[0].GetRoutes()[0]
	p.hcmYAML, err = hcmAsWritten(raw)
	if err != nil {
		return p, err
	}
	return p, nil
}

// hcmAsWritten is the typed_config of the first network filter, as a plain YAML mapping.
func hcmAsWritten(raw []byte) (map[string]any, error) {
	var doc struct {
		StaticResources struct {
			Listeners []struct {
				FilterChains []struct {
					Filters []struct {
						TypedConfig map[string]any `yaml:"typed_config"`
					} `yaml:"filters"`
				} `yaml:"filter_chains"`
			} `yaml:"listeners"`
		} `yaml:"static_resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	ls := doc.StaticResources.Listeners
	if len(ls) == 0 || len(ls[0].FilterChains) == 0 || len(ls[0].FilterChains[0].Filters) == 0 {
		return nil, fmt.Errorf("no network filter in the YAML")
	}
	return ls[0].FilterChains[0].Filters[0].TypedConfig, nil
}

func filterNames(fs []*hcmv3.HttpFilter) []string {
	names := make([]string, 0, len(fs))
	for _, f := range fs {
		names = append(names, f.GetName())
	}
	return names
}

// catalog holds the few default-catalog fields the Envoy config must agree with.
type catalog struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	Providers    []struct {
		Name      string `yaml:"name"`
		Cluster   string `yaml:"cluster"`
		Authority string `yaml:"authority"`
	} `yaml:"providers"`
}

func loadCatalog(t *testing.T) catalog {
	t.Helper()
	raw, err := os.ReadFile(catalogPath)
	if err != nil {
		t.Fatalf("read catalog: %v", err)
	}
	var c catalog
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("parse catalog: %v", err)
	}
	if len(c.Providers) == 0 || c.MaxBodyBytes <= 0 {
		t.Fatalf("catalog has %d providers and max_body_bytes %d; the test needs both", len(c.Providers), c.MaxBodyBytes)
	}
	return c
}

func TestAdminAndListener(t *testing.T) {
	p := loadMain(t)
	cat := loadCatalog(t)

	admin := p.bs.GetAdmin().GetAddress().GetSocketAddress()
	if admin.GetAddress() != "127.0.0.1" || admin.GetPortValue() != 9902 {
		t.Errorf("admin = %s:%d, want 127.0.0.1:9902 (9901 is the sidecar's admin)", admin.GetAddress(), admin.GetPortValue())
	}
	if p.listener.GetName() != "cpen_listener" {
		t.Errorf("listener name = %q, want cpen_listener", p.listener.GetName())
	}
	sa := p.listener.GetAddress().GetSocketAddress()
	if sa.GetAddress() != "0.0.0.0" || sa.GetPortValue() != 10000 {
		t.Errorf("listener = %s:%d, want 0.0.0.0:10000", sa.GetAddress(), sa.GetPortValue())
	}
	// Envoy answers 413 itself above its buffer limit; it must leave room for the sidecar's own
	// 413 (with the API's JSON body) on bodies just over max_body_bytes.
	limit := int64(p.listener.GetPerConnectionBufferLimitBytes().GetValue())
	if limit < 2*cat.MaxBodyBytes {
		t.Errorf("listener per_connection_buffer_limit_bytes = %d, want >= 2 x max_body_bytes (%d)", limit, 2*cat.MaxBodyBytes)
	}

	if p.hcm.GetStatPrefix() != "cpen" {
		t.Errorf("stat_prefix = %q, want cpen", p.hcm.GetStatPrefix())
	}
	if !p.hcm.GetGenerateRequestId().GetValue() {
		t.Error("generate_request_id must be on: x-request-id keys the sidecar's logs")
	}
	if d := p.hcm.GetStreamIdleTimeout().AsDuration(); d < time.Minute {
		t.Errorf("stream_idle_timeout = %v, want >= 1m for slow LLM streams", d)
	}
}

func TestExtProcFilter(t *testing.T) {
	p := loadMain(t)
	ep := p.extproc

	pm := ep.GetProcessingMode()
	tests := []struct {
		name string
		got  extprocv3.ProcessingMode_HeaderSendMode
		want extprocv3.ProcessingMode_HeaderSendMode
	}{
		{"request_header_mode", pm.GetRequestHeaderMode(), extprocv3.ProcessingMode_SEND},
		{"response_header_mode", pm.GetResponseHeaderMode(), extprocv3.ProcessingMode_SEND},
		{"request_trailer_mode", pm.GetRequestTrailerMode(), extprocv3.ProcessingMode_DEFAULT},
		{"response_trailer_mode", pm.GetResponseTrailerMode(), extprocv3.ProcessingMode_DEFAULT},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	bodies := []struct {
		name string
		got  extprocv3.ProcessingMode_BodySendMode
	}{
		{"request_body_mode", pm.GetRequestBodyMode()},
		{"response_body_mode", pm.GetResponseBodyMode()},
	}
	for _, b := range bodies {
		if b.got != extprocv3.ProcessingMode_BUFFERED {
			t.Errorf("%s = %v, want BUFFERED", b.name, b.got)
		}
	}
	if !ep.GetAllowModeOverride() {
		t.Error("allow_mode_override must be true: streams switch the response body to STREAMED")
	}
	if ep.GetFailureModeAllow() {
		t.Error("failure_mode_allow must be false (fail closed)")
	}
	if d := ep.GetMessageTimeout().AsDuration(); d != 10*time.Second {
		t.Errorf("message_timeout = %v, want 10s", d)
	}
	if ep.GetMutationRules() != nil {
		t.Error("mutation_rules set; the sidecar is written against the defaults")
	}
	if ep.GetSendBodyWithoutWaitingForHeaderResponse() {
		t.Error("send_body_without_waiting_for_header_response would disable mode_override")
	}
	if ep.GetObservabilityMode() || ep.GetDisableImmediateResponse() {
		t.Error("observability_mode and disable_immediate_response must stay off")
	}

	gs := ep.GetGrpcService()
	if got := gs.GetEnvoyGrpc().GetClusterName(); got != extprocCluster {
		t.Errorf("ext_proc envoy_grpc cluster = %q, want %s", got, extprocCluster)
	}
	if gs.GetTimeout() == nil {
		t.Error("grpc_service has no timeout")
	}
}

func TestRoute(t *testing.T) {
	p := loadMain(t)
	r := p.route
	if r.GetMatch().GetPrefix() != "/" {
		t.Errorf("route match = %v, want prefix \"/\" (the sidecar rewrites :path before re-routing)", r.GetMatch())
	}
	ra := r.GetRoute()
	if ra.GetClusterHeader() != clusterHeader {
		t.Errorf("cluster_header = %q, want %s", ra.GetClusterHeader(), clusterHeader)
	}
	if !ra.GetAutoHostRewrite().GetValue() {
		t.Error("auto_host_rewrite must be on: Envoy ignores :authority mutations by default")
	}
	if ra.GetTimeout() == nil || ra.GetTimeout().AsDuration() != 0 {
		t.Errorf("route timeout = %v, want explicit 0s (the 15s default cuts SSE streams)", ra.GetTimeout())
	}
}

func TestExtProcClusterIsHTTP2(t *testing.T) {
	p := loadMain(t)
	c, ok := p.clusters[extprocCluster]
	if !ok {
		t.Fatalf("cluster %s missing", extprocCluster)
	}
	if c.GetType() != clusterv3.Cluster_STATIC {
		t.Errorf("type = %v, want STATIC", c.GetType())
	}
	sa := onlyEndpoint(t, c)
	if sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != 50051 {
		t.Errorf("endpoint = %s:%d, want 127.0.0.1:50051 (the sidecar's --grpc-addr default)", sa.GetAddress(), sa.GetPortValue())
	}
	anyOpts, ok := c.GetTypedExtensionProtocolOptions()[http2OptsKey]
	if !ok {
		t.Fatalf("typed_extension_protocol_options lacks %s", http2OptsKey)
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := anyOpts.UnmarshalTo(opts); err != nil {
		t.Fatalf("unpack protocol options: %v", err)
	}
	if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Error("ext_proc cluster must speak HTTP/2 (explicit_http_config.http2_protocol_options)")
	}
	if got := c.GetPerConnectionBufferLimitBytes().GetValue(); got < 4<<20 {
		t.Errorf("per_connection_buffer_limit_bytes = %d, want >= 4 MiB: whole bodies travel in gRPC messages", got)
	}
}

func TestProviderClustersMatchCatalog(t *testing.T) {
	p := loadMain(t)
	cat := loadCatalog(t)
	for _, prov := range cat.Providers {
		t.Run(prov.Name, func(t *testing.T) {
			c, ok := p.clusters[prov.Cluster]
			if !ok {
				t.Fatalf("catalog provider %s names cluster %q, which envoy.yaml lacks", prov.Name, prov.Cluster)
			}
			// auto_host_rewrite only takes a hostname from DNS clusters.
			if typ := c.GetType(); typ != clusterv3.Cluster_LOGICAL_DNS && typ != clusterv3.Cluster_STRICT_DNS {
				t.Errorf("type = %v, want LOGICAL_DNS or STRICT_DNS", typ)
			}
			sa := onlyEndpoint(t, c)
			if sa.GetAddress() != prov.Authority || sa.GetPortValue() != 443 {
				t.Errorf("endpoint = %s:%d, want %s:443", sa.GetAddress(), sa.GetPortValue(), prov.Authority)
			}
			ts := c.GetTransportSocket()
			if ts == nil {
				t.Fatal("no transport_socket: provider keys would cross the network in plaintext")
			}
			tlsCtx := &tlsv3.UpstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(tlsCtx); err != nil {
				t.Fatalf("transport_socket is not an UpstreamTlsContext: %v", err)
			}
			if tlsCtx.GetSni() != prov.Authority {
				t.Errorf("sni = %q, want %q", tlsCtx.GetSni(), prov.Authority)
			}
			vc := tlsCtx.GetCommonTlsContext().GetValidationContext()
			if got := vc.GetTrustedCa().GetFilename(); got != systemCABundle {
				t.Errorf("trusted_ca = %q, want %s (otherwise the server certificate is not verified)", got, systemCABundle)
			}
			if !sanMatches(vc, prov.Authority) {
				t.Errorf("no DNS SAN matcher for %s: the chain would be checked but not the name", prov.Authority)
			}
		})
	}
	if !p.route.GetRoute().GetAutoHostRewrite().GetValue() {
		t.Error("provider clusters need auto_host_rewrite on the route")
	}
}

func sanMatches(vc *tlsv3.CertificateValidationContext, host string) bool {
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		if m.GetSanType() == tlsv3.SubjectAltNameMatcher_DNS && m.GetMatcher().GetExact() == host {
			return true
		}
	}
	return false
}

func TestMockProviderCluster(t *testing.T) {
	p := loadMain(t)
	c, ok := p.clusters[mockCluster]
	if !ok {
		t.Fatalf("cluster %s missing", mockCluster)
	}
	if c.GetType() != clusterv3.Cluster_STATIC {
		t.Errorf("type = %v, want STATIC", c.GetType())
	}
	if c.GetTransportSocket() != nil {
		t.Error("mock_provider must be plaintext (test/cmd/mock-provider serves HTTP)")
	}
	sa := onlyEndpoint(t, c)
	if sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != 18080 {
		t.Errorf("endpoint = %s:%d, want 127.0.0.1:18080 (mock-provider --listen default)", sa.GetAddress(), sa.GetPortValue())
	}
}

func onlyEndpoint(t *testing.T, c *clusterv3.Cluster) interface {
	GetAddress() string
	GetPortValue() uint32
} {
	t.Helper()
	la := c.GetLoadAssignment()
	if la.GetClusterName() != c.GetName() {
		t.Errorf("load_assignment.cluster_name = %q, want %q", la.GetClusterName(), c.GetName())
	}
	eps := la.GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		t.Fatalf("cluster %s: want exactly one endpoint", c.GetName())
	}
	return eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
}
