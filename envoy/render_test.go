package envoy_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"

	"github.com/cpen/router/envoy"
)

func localRun() envoy.Local {
	return envoy.Local{
		Listener: "127.0.0.1:41000",
		Admin:    "127.0.0.1:41001",
		ExtProc:  "127.0.0.1:41002",
		Providers: map[string]string{
			"mock_b": "127.0.0.1:41004",
			"mock_a": "127.0.0.1:41003",
		},
	}
}

func readMain(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(mainConfig)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return raw
}

func clusterNamed(bs *bootstrapv3.Bootstrap, name string) *clusterv3.Cluster {
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

func TestRenderLocal(t *testing.T) {
	tmpl := readMain(t)
	out, err := envoy.Render(tmpl, localRun())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !bytes.HasPrefix(out, []byte("# Rendered from envoy/envoy.yaml")) {
		t.Errorf("rendered file does not say where it comes from: %.80q", out)
	}
	// Integers stay integers: a quoted "16384" would still load, but only by luck of the parser.
	if !bytes.Contains(out, []byte("max_requests: 16384\n")) {
		t.Errorf("circuit breakers not written as plain integers:\n%s", out)
	}
	got, err := envoy.Load(out)
	if err != nil {
		t.Fatalf("the rendered config does not load: %v\n%s", err, out)
	}
	want, err := envoy.Load(tmpl)
	if err != nil {
		t.Fatalf("template: %v", err)
	}

	admin := got.GetAdmin().GetAddress().GetSocketAddress()
	if admin.GetAddress() != "127.0.0.1" || admin.GetPortValue() != 41001 {
		t.Errorf("admin = %s:%d, want 127.0.0.1:41001", admin.GetAddress(), admin.GetPortValue())
	}
	ls := got.GetStaticResources().GetListeners()
	if len(ls) != 1 {
		t.Fatalf("listeners = %d, want 1", len(ls))
	}
	sa := ls[0].GetAddress().GetSocketAddress()
	if sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != 41000 {
		t.Errorf("listener = %s:%d, want 127.0.0.1:41000", sa.GetAddress(), sa.GetPortValue())
	}
	// Apart from its address the listener is the template's: same connection manager, filters,
	// route and settings.
	wl := want.GetStaticResources().GetListeners()[0]
	wl.Address = ls[0].GetAddress()
	if !proto.Equal(wl, ls[0]) {
		t.Errorf("listener differs from the template beyond its address")
	}

	var names []string
	for _, c := range got.GetStaticResources().GetClusters() {
		names = append(names, c.GetName())
	}
	if !slices.Equal(names, []string{extprocCluster, "mock_a", "mock_b"}) {
		t.Fatalf("clusters = %v, want [%s mock_a mock_b] (the template's provider clusters replaced)", names, extprocCluster)
	}

	ext := clusterNamed(got, extprocCluster)
	if ep := onlyEndpoint(t, ext); ep.GetAddress() != "127.0.0.1" || ep.GetPortValue() != 41002 {
		t.Errorf("ext_proc endpoint = %s:%d, want 127.0.0.1:41002", ep.GetAddress(), ep.GetPortValue())
	}
	wantExt := clusterNamed(want, extprocCluster)
	wantExt.LoadAssignment = ext.GetLoadAssignment()
	if !proto.Equal(wantExt, ext) {
		t.Errorf("ext_proc cluster differs from the template beyond its endpoint (HTTP/2, keepalive, limits must be kept)")
	}

	mock := clusterNamed(want, mockCluster)
	for name, port := range map[string]uint32{"mock_a": 41003, "mock_b": 41004} {
		c := clusterNamed(got, name)
		if c.GetTransportSocket() != nil || c.GetType() != clusterv3.Cluster_STATIC {
			t.Errorf("%s: want a plaintext STATIC cluster", name)
		}
		if ep := onlyEndpoint(t, c); ep.GetAddress() != "127.0.0.1" || ep.GetPortValue() != port {
			t.Errorf("%s endpoint = %s:%d, want 127.0.0.1:%d", name, ep.GetAddress(), ep.GetPortValue(), port)
		}
		copyOfMock := proto.Clone(mock).(*clusterv3.Cluster)
		copyOfMock.Name = name
		copyOfMock.LoadAssignment = c.GetLoadAssignment()
		if !proto.Equal(copyOfMock, c) {
			t.Errorf("%s is not %s renamed and re-pointed (circuit breakers, timeouts must be kept)", name, mockCluster)
		}
	}

	again, err := envoy.Render(tmpl, localRun())
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("a second render differs (err %v): the file Envoy reads must not depend on map order", err)
	}
}

func TestRenderRejects(t *testing.T) {
	tmpl := readMain(t)
	tests := []struct {
		name    string
		tmpl    []byte
		edit    func(*envoy.Local)
		wantErr string
	}{
		{"listener host name", tmpl, func(l *envoy.Local) { l.Listener = "localhost:41000" }, "listener: address \"localhost:41000\": host is not an IP literal"},
		{"admin without port", tmpl, func(l *envoy.Local) { l.Admin = "127.0.0.1" }, "admin: address \"127.0.0.1\""},
		{"ext_proc port 0", tmpl, func(l *envoy.Local) { l.ExtProc = "127.0.0.1:0" }, "ext_proc: address \"127.0.0.1:0\": port 0"},
		{"provider port out of range", tmpl, func(l *envoy.Local) { l.Providers["mock_a"] = "127.0.0.1:70000" }, "provider cluster \"mock_a\": address \"127.0.0.1:70000\": port"},
		{"provider named like ext_proc", tmpl, func(l *envoy.Local) { l.Providers[extprocCluster] = "127.0.0.1:41005" }, "is the ext_proc cluster's name"},
		{"no providers", tmpl, func(l *envoy.Local) { l.Providers = nil }, "no provider clusters"},
		{"template does not load", []byte("static_resources: ["), func(*envoy.Local) {}, "template: parse YAML"},
		{"template without the plaintext cluster",
			[]byte(strings.ReplaceAll(string(tmpl), "mock_provider", "mock_gone")), func(*envoy.Local) {}, "lacks the plaintext cluster \"mock_provider\""},
		{"template plaintext cluster not STATIC",
			[]byte(strings.Replace(string(tmpl), "  - name: mock_provider\n    type: STATIC", "  - name: mock_provider\n    type: STRICT_DNS", 1)),
			func(*envoy.Local) {}, "must be STATIC and plaintext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := localRun()
			tt.edit(&l)
			out, err := envoy.Render(tt.tmpl, l)
			if err == nil {
				t.Fatalf("Render accepted it:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}
