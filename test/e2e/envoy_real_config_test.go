package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"go.yaml.in/yaml/v3"

	"github.com/cpen/router/envoy"
)

// The bootstrap of the real-Envoy mode is rendered and loaded on every run, with or without
// ENVOY_BIN, from the same inputs a stack passes (the two mock providers' URLs, free loopback
// ports, the sidecar's gRPC address), so a change to envoy/envoy.yaml, to the renderer or to the
// test catalog that a real Envoy would refuse or misroute fails here first.
func TestRealEnvoyConfigLoads(t *testing.T) {
	srvA := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srvA.Close)
	srvB := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srvB.Close)
	clusters := providerClusters(srvA.URL, srvB.URL)
	listen, admin, grpcAddr := freeAddr(t), freeAddr(t), freeAddr(t)

	raw, err := renderEnvoyConfig(listen, admin, grpcAddr, clusters)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	bs, err := envoy.Load(raw)
	if err != nil {
		t.Fatalf("the rendered bootstrap does not load: %v\n%s", err, raw)
	}

	if got := addrOf(bs.GetAdmin().GetAddress()); got != admin {
		t.Errorf("admin = %s, want %s", got, admin)
	}
	ls := bs.GetStaticResources().GetListeners()
	if len(ls) != 1 {
		t.Fatalf("listeners = %d, want 1", len(ls))
	}
	if got := addrOf(ls[0].GetAddress()); got != listen {
		t.Errorf("listener = %s, want %s", got, listen)
	}

	byName := map[string]*clusterv3.Cluster{}
	var names []string
	for _, c := range bs.GetStaticResources().GetClusters() {
		byName[c.GetName()] = c
		names = append(names, c.GetName())
	}
	catalogClusters := testCatalogClusters(t)
	want := append([]string{"cpen_extproc"}, catalogClusters...)
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("clusters = %v, want %v (the ext_proc cluster and every cluster of testdata/catalog.yaml)", names, want)
	}
	if got := endpointOf(t, byName["cpen_extproc"]); got != grpcAddr {
		t.Errorf("ext_proc endpoint = %s, want the sidecar's %s", got, grpcAddr)
	}
	for _, name := range catalogClusters {
		c := byName[name]
		u, err := url.Parse(clusters[name])
		if err != nil {
			t.Fatal(err)
		}
		if got := endpointOf(t, c); got != u.Host {
			t.Errorf("%s endpoint = %s, want the mock provider's %s", name, got, u.Host)
		}
		if c.GetType() != clusterv3.Cluster_STATIC || c.GetTransportSocket() != nil {
			t.Errorf("%s: want a plaintext STATIC cluster (the mocks serve plain HTTP)", name)
		}
	}
}

// A base URL the renderer cannot turn into a plaintext endpoint is refused, not guessed at.
func TestRealEnvoyConfigRefusesNonHTTPProviders(t *testing.T) {
	for _, raw := range []string{"https://127.0.0.1:8443", "http://127.0.0.1:8080/prefix", "http://localhost:8080"} {
		_, err := renderEnvoyConfig("127.0.0.1:41000", "127.0.0.1:41001", "127.0.0.1:41002", providerClusters(raw, "http://127.0.0.1:41003"))
		if err == nil || !strings.Contains(err.Error(), "mock_a") {
			t.Errorf("%s: err = %v, want a refusal naming cluster mock_a", raw, err)
		}
	}
}

// testCatalogClusters lists providers[].cluster of the e2e catalog.
func testCatalogClusters(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cat struct {
		Providers []struct {
			Cluster string `yaml:"cluster"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(raw, &cat); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range cat.Providers {
		if !slices.Contains(out, p.Cluster) {
			out = append(out, p.Cluster)
		}
	}
	if len(out) == 0 {
		t.Fatal("testdata/catalog.yaml names no provider cluster")
	}
	return out
}

func addrOf(a *corev3.Address) string {
	sa := a.GetSocketAddress()
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
}

func endpointOf(t *testing.T, c *clusterv3.Cluster) string {
	t.Helper()
	eps := c.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		t.Fatalf("cluster %s: want exactly one endpoint", c.GetName())
	}
	return addrOf(eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress())
}
