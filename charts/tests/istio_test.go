package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	istioapi "istio.io/api/networking/v1alpha3"
	istionetv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const istioValues = "testdata/extproc-istio.yaml"

// TestIstioGatewayAttachment renders the Istio values file (an ingress gateway) and checks every
// attachment object: strictly decoded into Istio's Go types (the spec by protojson, unknown fields
// refused), valid under Istio's CRD schemas, the EnvoyFilter's patches decoded into go-control-
// plane's Envoy types and validated as Envoy would, and all of it wired together: the ext_proc filter
// carries the settings of envoy/envoy.yaml, points at the chart's Service, and is enabled on exactly
// the chart's VirtualService routes; every provider cluster of the rendered catalog has its route,
// ServiceEntry and TLS-originating DestinationRule.
func TestIstioGatewayAttachment(t *testing.T) {
	objs := render(t, istioValues)
	crds := newCRDSchemas(t, istioCRDFile(t))
	filterName := "envoy.filters.http.ext_proc/cpen/" + releaseNamespace + "/" + releaseFullname

	wantKinds := map[string]int{
		"networking.istio.io/v1alpha3/EnvoyFilter": 1,
		"networking.istio.io/v1/VirtualService":    1,
		"networking.istio.io/v1/ServiceEntry":      3,
		"networking.istio.io/v1/DestinationRule":   3,
	}
	for key, n := range wantKinds {
		if got := len(objectsOfKind(objs, key)); got != n {
			t.Errorf("%s: %d rendered, want %d", key, got, n)
		}
	}
	for _, o := range objs {
		if strings.Contains(o.APIVersion, ".istio.io/") {
			crds.validate(t, o)
		}
	}
	providers := catalogProviders(t, objs)
	if len(providers) != 3 {
		t.Fatalf("catalog in effect has %d provider clusters, want the default catalog's 3: %v", len(providers), providers)
	}

	// The EnvoyFilter: in the gateway's namespace, on its pods.
	filter, spec := decodeEnvoyFilter(t, objs)
	if filter.Namespace != "istio-ingress" || filter.Name != releaseFullname {
		t.Errorf("EnvoyFilter is %s/%s, want istio-ingress/%s (an EnvoyFilter selects pods of its own namespace)", filter.Namespace, filter.Name, releaseFullname)
	}
	if got := spec.GetWorkloadSelector().GetLabels(); len(got) != 1 || got["istio"] != "ingressgateway" {
		t.Errorf("EnvoyFilter workloadSelector %v, want istio=ingressgateway", got)
	}
	patches := spec.GetConfigPatches()
	if len(patches) != len(providers)+2 {
		t.Fatalf("EnvoyFilter has %d patches, want %d: the filter, then one per VirtualService route", len(patches), len(providers)+2)
	}
	hf := checkExtProcFilterPatch(t, objs, patches[0], istioapi.EnvoyFilter_GATEWAY, 0, filterName)
	if !hf.GetDisabled() {
		t.Errorf("the filter is enabled for every route of the gateway; want it disabled, enabled on the chart's routes only")
	}

	// The routes the filter is enabled on are exactly the VirtualService's.
	vs := decodeIstio(t, only(t, objs, "networking.istio.io/v1/VirtualService"), &istionetv1.VirtualService{}, &istioapi.VirtualService{})
	var vsRoutes []string
	for _, r := range vs.GetHttp() {
		vsRoutes = append(vsRoutes, r.GetName())
	}
	var enabled []string
	for i, p := range patches[1:] {
		if p.GetApplyTo() != istioapi.EnvoyFilter_HTTP_ROUTE || p.GetPatch().GetOperation() != istioapi.EnvoyFilter_Patch_MERGE ||
			p.GetMatch().GetContext() != istioapi.EnvoyFilter_GATEWAY {
			t.Fatalf("patch %d: %s, want a MERGE into a gateway HTTP route", i+1, protojson.Format(p))
		}
		rc := p.GetMatch().GetRouteConfiguration()
		if rc.GetPortNumber() != 0 || rc.GetName() != "" || rc.GetVhost().GetName() != "" || rc.GetVhost().GetRoute().GetAction() != istioapi.EnvoyFilter_RouteConfigurationMatch_RouteMatch_ANY {
			t.Errorf("patch %d matches %s, want a route by name only", i+1, protojson.Format(rc))
		}
		route := decodePatchValue(t, p.GetPatch().GetValue(), &routev3.Route{})
		if len(route.GetTypedPerFilterConfig()) != 1 {
			t.Fatalf("patch %d sets %d per-filter configs, want 1", i+1, len(route.GetTypedPerFilterConfig()))
		}
		fc := &routev3.FilterConfig{}
		if err := route.GetTypedPerFilterConfig()[filterName].UnmarshalTo(fc); err != nil {
			t.Fatalf("patch %d: per-filter config of %s: %v", i+1, filterName, err)
		}
		validateEnvoy(t, fc)
		// Envoy enables a filter for a FilterConfig whose config is present but empty, and refuses
		// one without config.
		if fc.GetConfig() == nil || fc.GetConfig().GetTypeUrl() != "" || fc.GetDisabled() || fc.GetIsOptional() {
			t.Errorf("patch %d: FilterConfig %s, want an empty config (enabled with the filter's own settings)", i+1, protojson.Format(fc))
		}
		enabled = append(enabled, rc.GetVhost().GetRoute().GetName())
	}
	if !slices.Equal(enabled, vsRoutes) {
		t.Errorf("filter enabled on routes %v, want the VirtualService's routes %v", enabled, vsRoutes)
	}

	// The VirtualService: bound to the gateway, one route per provider cluster, then the entry.
	vsObj := only(t, objs, "networking.istio.io/v1/VirtualService")
	if vsObj.Namespace != releaseNamespace || vsObj.Name != releaseFullname {
		t.Errorf("VirtualService is %s/%s, want %s/%s", vsObj.Namespace, vsObj.Name, releaseNamespace, releaseFullname)
	}
	if !slices.Equal(vs.GetGateways(), []string{"istio-ingress/llm-gateway"}) || !slices.Equal(vs.GetHosts(), []string{"llm.example.com"}) {
		t.Errorf("VirtualService gateways %v hosts %v, want [istio-ingress/llm-gateway] [llm.example.com]", vs.GetGateways(), vs.GetHosts())
	}
	if !slices.Equal(vs.GetExportTo(), []string{"istio-ingress"}) {
		t.Errorf("VirtualService exportTo %v, want the gateway's namespace only", vs.GetExportTo())
	}
	checkIstioRoutes(t, vs.GetHttp(), providers)
	checkIstioProviderEntries(t, objs, providers, "istio-ingress")
}

// checkIstioRoutes checks one VirtualService route per provider cluster, in cluster order, then the
// entry route answering 503 itself.
func checkIstioRoutes(t *testing.T, routes []*istioapi.HTTPRoute, providers []attachProvider) {
	t.Helper()
	if len(routes) != len(providers)+1 {
		t.Fatalf("VirtualService has %d routes, want %d (one per provider cluster, then the entry route)", len(routes), len(providers)+1)
	}
	for i, p := range providers {
		want := &istioapi.HTTPRoute{
			Name: p.objectName(),
			Match: []*istioapi.HTTPMatchRequest{{Headers: map[string]*istioapi.StringMatch{
				clusterHeader: {MatchType: &istioapi.StringMatch_Exact{Exact: p.Cluster}},
			}}},
			Rewrite: &istioapi.HTTPRewrite{Authority: p.Host},
			Headers: &istioapi.Headers{Request: &istioapi.Headers_HeaderOperations{Remove: providerRouteRemovedHeaders()}},
			Route: []*istioapi.HTTPRouteDestination{{Destination: &istioapi.Destination{
				Host: p.Host, Port: &istioapi.PortSelector{Number: uint32(p.Port)},
			}}},
		}
		if !proto.Equal(routes[i], want) {
			t.Errorf("route %d:\n%s\nwant\n%s", i, protojson.Format(routes[i]), protojson.Format(want))
		}
	}
	entry := &istioapi.HTTPRoute{
		Name:           releaseFullname + "-entry",
		DirectResponse: &istioapi.HTTPDirectResponse{Status: 503},
	}
	if got := routes[len(providers)]; !proto.Equal(got, entry) {
		t.Errorf("entry route:\n%s\nwant\n%s", protojson.Format(got), protojson.Format(entry))
	}
}

// checkIstioProviderEntries checks a ServiceEntry and a TLS-originating DestinationRule per provider
// cluster, both seen only in exportTo.
func checkIstioProviderEntries(t *testing.T, objs []renderedObject, providers []attachProvider, exportTo string) {
	t.Helper()
	entries := map[string]*istioapi.ServiceEntry{}
	for _, o := range objectsOfKind(objs, "networking.istio.io/v1/ServiceEntry") {
		se := decodeIstio(t, o, &istionetv1.ServiceEntry{}, &istioapi.ServiceEntry{})
		if o.Namespace != releaseNamespace || len(se.GetHosts()) != 1 {
			t.Fatalf("ServiceEntry %s/%s hosts %v, want one host, in the release namespace", o.Namespace, o.Name, se.GetHosts())
		}
		entries[se.GetHosts()[0]] = se
	}
	rules := map[string]*istioapi.DestinationRule{}
	for _, o := range objectsOfKind(objs, "networking.istio.io/v1/DestinationRule") {
		dr := decodeIstio(t, o, &istionetv1.DestinationRule{}, &istioapi.DestinationRule{})
		if o.Namespace != releaseNamespace {
			t.Errorf("DestinationRule %s/%s, want it in the release namespace", o.Namespace, o.Name)
		}
		rules[dr.GetHost()] = dr
	}
	if len(entries) != len(providers) || len(rules) != len(providers) {
		t.Errorf("%d ServiceEntries and %d DestinationRules for %d provider clusters", len(entries), len(rules), len(providers))
	}
	for _, p := range providers {
		wantSE := &istioapi.ServiceEntry{
			Hosts:      []string{p.Host},
			Location:   istioapi.ServiceEntry_MESH_EXTERNAL,
			Ports:      []*istioapi.ServicePort{{Number: uint32(p.Port), Name: "https", Protocol: "HTTPS"}},
			Resolution: istioapi.ServiceEntry_DNS,
			ExportTo:   []string{exportTo},
		}
		if se := entries[p.Host]; !proto.Equal(se, wantSE) {
			t.Errorf("ServiceEntry of %s:\n%s\nwant\n%s", p.Cluster, protojson.Format(se), protojson.Format(wantSE))
		}
		wantDR := &istioapi.DestinationRule{
			Host:     p.Host,
			ExportTo: []string{exportTo},
			TrafficPolicy: &istioapi.TrafficPolicy{
				ConnectionPool: &istioapi.ConnectionPoolSettings{
					Tcp:  &istioapi.ConnectionPoolSettings_TCPSettings{MaxConnections: 16384, ConnectTimeout: durationpb.New(5e9)},
					Http: &istioapi.ConnectionPoolSettings_HTTPSettings{Http1MaxPendingRequests: 4096, Http2MaxRequests: 16384, MaxRetries: 3},
				},
				Tls: &istioapi.ClientTLSSettings{
					Mode: istioapi.ClientTLSSettings_SIMPLE, Sni: p.Host, SubjectAltNames: []string{p.Host},
				},
			},
		}
		if dr := rules[p.Host]; !proto.Equal(dr, wantDR) {
			t.Errorf("DestinationRule of %s:\n%s\nwant\n%s", p.Cluster, protojson.Format(dr), protojson.Format(wantDR))
		}
	}
}

// TestIstioSidecarInbound attaches to a workload's sidecar instead: the filter runs on the
// workload's inbound port for every request (no VirtualService; inbound routes are Istio's own), and
// the provider routes are inserted ahead of the application's inbound route. The catalog here sits
// in an existing ConfigMap, so catalog.providers name the clusters, one with a port of its own.
func TestIstioSidecarInbound(t *testing.T) {
	objs := render(t, valuesFile(t, `mode: extproc
catalog:
  existingConfigMap: my-catalog
  providers:
    - {name: b, cluster: provider_b, authority: b.example.com, api_key_env: B_KEY}
    - {name: a, cluster: provider_a, authority: "a.example.com:8443", api_key_env: A_KEY}
istio:
  enabled: true
  context: SIDECAR_INBOUND
  portNumber: 8080
  workloadSelector:
    labels:
      app: llm-proxy
`))
	crds := newCRDSchemas(t, istioCRDFile(t))
	for _, o := range objs {
		if strings.Contains(o.APIVersion, ".istio.io/") {
			crds.validate(t, o)
		}
	}
	if n := len(objectsOfKind(objs, "networking.istio.io/v1/VirtualService")); n != 0 {
		t.Errorf("%d VirtualServices rendered for a sidecar, want none", n)
	}
	providers := []attachProvider{
		{Cluster: "provider_b", Host: "b.example.com", Port: 443},
		{Cluster: "provider_a", Host: "a.example.com", Port: 8443},
	}
	filter, spec := decodeEnvoyFilter(t, objs)
	if filter.Namespace != releaseNamespace {
		t.Errorf("EnvoyFilter in %s, want the release namespace (the workload's, by default)", filter.Namespace)
	}
	if got := spec.GetWorkloadSelector().GetLabels(); len(got) != 1 || got["app"] != "llm-proxy" {
		t.Errorf("EnvoyFilter workloadSelector %v, want app=llm-proxy", got)
	}
	patches := spec.GetConfigPatches()
	if len(patches) != len(providers)+1 {
		t.Fatalf("EnvoyFilter has %d patches, want %d: the filter, then one route per provider cluster", len(patches), len(providers)+1)
	}
	hf := checkExtProcFilterPatch(t, objs, patches[0], istioapi.EnvoyFilter_SIDECAR_INBOUND, 8080,
		"envoy.filters.http.ext_proc/cpen/"+releaseNamespace+"/"+releaseFullname)
	if hf.GetDisabled() {
		t.Errorf("the filter is disabled on the workload's inbound port; want it on for every request")
	}
	for i, p := range providers {
		patch := patches[i+1]
		if patch.GetApplyTo() != istioapi.EnvoyFilter_HTTP_ROUTE || patch.GetPatch().GetOperation() != istioapi.EnvoyFilter_Patch_INSERT_FIRST ||
			patch.GetMatch().GetContext() != istioapi.EnvoyFilter_SIDECAR_INBOUND || patch.GetMatch().GetRouteConfiguration().GetPortNumber() != 8080 ||
			patch.GetMatch().GetRouteConfiguration().GetVhost() != nil {
			t.Fatalf("patch %d: %s, want a route inserted first into the inbound routes of port 8080", i+1, protojson.Format(patch))
		}
		got := decodePatchValue(t, patch.GetPatch().GetValue(), &routev3.Route{})
		validateEnvoy(t, got)
		want := &routev3.Route{
			Name: p.objectName(),
			Match: &routev3.RouteMatch{
				PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
				Headers: []*routev3.HeaderMatcher{{
					Name: clusterHeader,
					HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
						MatchPattern: &matcherv3.StringMatcher_Exact{Exact: p.Cluster},
					}},
				}},
			},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: fmt.Sprintf("outbound|%d||%s", p.Port, p.Host)},
				HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: p.Host},
				Timeout:              durationpb.New(0),
				IdleTimeout:          durationpb.New(300e9),
			}},
			RequestHeadersToRemove: providerRouteRemovedHeaders(),
		}
		if !proto.Equal(got, want) {
			t.Errorf("route patch %d:\n%s\nwant\n%s", i+1, protojson.Format(got), protojson.Format(want))
		}
	}
	checkIstioProviderEntries(t, objs, providers, releaseNamespace)
}

// TestIstioRefusals: values that cannot attach fail the render with a message naming the value.
func TestIstioRefusals(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   string
	}{
		{"gateway mode", "mode: gateway", "istio.enabled needs mode: extproc"},
		{"no selector", "istio: {workloadSelector: {labels: null}}", "istio.workloadSelector.labels: select the gateway or workload pods"},
		{"no gateways", "istio: {gateways: []}", "istio.gateways: name the Istio Gateways"},
		{"sidecar without port", "istio: {context: SIDECAR_INBOUND}", "istio.portNumber: with context SIDECAR_INBOUND"},
		{"unreadable catalog", "catalog: {existingConfigMap: my-catalog}", "catalog.providers: list the providers"},
		{"unknown context", "istio: {context: SIDECAR_OUTBOUND}", "at '/istio/context': value must be one of 'GATEWAY', 'SIDECAR_INBOUND'"},
		{"unknown value", "istio: {gateway: istio-ingress/llm-gateway}", "at '/istio': additional properties 'gateway' not allowed"},
		{"gateway without namespace separator", "istio: {gateways: [istio-ingress/llm/gateway]}", "at '/istio/gateways/0'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := renderError(t, helm3, []string{istioValues, valuesFile(t, tt.values)})
			if !strings.Contains(msg, tt.want) {
				t.Errorf("helm template failed with\n%s\nwant a message containing %q", msg, tt.want)
			}
		})
	}
}

// checkExtProcFilterPatch checks the patch inserting the ext_proc filter before the router of the
// HTTP connection managers in context (on one port, or all when port is 0), decodes its value into
// an Envoy HttpFilter and ExternalProcessor, validates both, and compares the processor with the
// one of envoy/envoy.yaml; it returns the filter.
func checkExtProcFilterPatch(t *testing.T, objs []renderedObject, p *istioapi.EnvoyFilter_EnvoyConfigObjectPatch,
	context istioapi.EnvoyFilter_PatchContext, port uint32, name string,
) *hcmv3.HttpFilter {
	t.Helper()
	wantMatch := &istioapi.EnvoyFilter_EnvoyConfigObjectMatch{
		Context: context,
		ObjectTypes: &istioapi.EnvoyFilter_EnvoyConfigObjectMatch_Listener{Listener: &istioapi.EnvoyFilter_ListenerMatch{
			PortNumber: port,
			FilterChain: &istioapi.EnvoyFilter_ListenerMatch_FilterChainMatch{
				Filter: &istioapi.EnvoyFilter_ListenerMatch_FilterMatch{
					Name:      "envoy.filters.network.http_connection_manager",
					SubFilter: &istioapi.EnvoyFilter_ListenerMatch_SubFilterMatch{Name: "envoy.filters.http.router"},
				},
			},
		}},
	}
	if p.GetApplyTo() != istioapi.EnvoyFilter_HTTP_FILTER || p.GetPatch().GetOperation() != istioapi.EnvoyFilter_Patch_INSERT_BEFORE ||
		!proto.Equal(p.GetMatch(), wantMatch) {
		t.Fatalf("filter patch %s, want an HTTP_FILTER inserted before the router, matching %s", protojson.Format(p), protojson.Format(wantMatch))
	}
	hf := decodePatchValue(t, p.GetPatch().GetValue(), &hcmv3.HttpFilter{})
	validateEnvoy(t, hf)
	if hf.GetName() != name {
		t.Errorf("filter name %q, want %q", hf.GetName(), name)
	}
	ep := &extprocv3.ExternalProcessor{}
	if err := hf.GetTypedConfig().UnmarshalTo(ep); err != nil {
		t.Fatalf("filter typed_config is not an ExternalProcessor: %v", err)
	}
	validateEnvoy(t, ep)
	want := bootstrapExtProc(t)
	wantTimeout := want.GetGrpcService().GetTimeout()
	if got := ep.GetGrpcService().GetTimeout(); !proto.Equal(got, wantTimeout) {
		t.Errorf("grpc_service timeout %v, want the bootstrap's %v", got, wantTimeout)
	}
	// Istio names the cluster of a Service port outbound|<port>||<service FQDN>.
	cluster := ep.GetGrpcService().GetEnvoyGrpc().GetClusterName()
	parts := strings.Split(cluster, "|")
	suffix := "." + releaseNamespace + ".svc.cluster.local"
	svcPort, err := strconv.ParseInt(parts[min(1, len(parts)-1)], 10, 32)
	if len(parts) != 4 || parts[0] != "outbound" || parts[2] != "" || err != nil || !strings.HasSuffix(parts[3], suffix) {
		t.Fatalf("ext_proc cluster %q, want outbound|<port>||<service>%s", cluster, suffix)
	}
	checkExtProcService(t, objs, strings.TrimSuffix(parts[3], suffix), gwapiv1.PortNumber(svcPort))
	got, _ := proto.Clone(ep).(*extprocv3.ExternalProcessor)
	got.GrpcService = nil
	if g, w := effectiveExtProc(got), effectiveExtProc(bootstrapExtProcSettings(t)); !proto.Equal(g, w) {
		t.Errorf("ext_proc in the EnvoyFilter:\n%s\nwant the settings of %s:\n%s", g, bootstrapFile, w)
	}
	return hf
}

// decodeEnvoyFilter decodes the one rendered EnvoyFilter strictly.
func decodeEnvoyFilter(t *testing.T, objs []renderedObject) (renderedObject, *istioapi.EnvoyFilter) {
	t.Helper()
	o := only(t, objs, "networking.istio.io/v1alpha3/EnvoyFilter")
	return o, decodeIstio(t, o, &istionetv1alpha3.EnvoyFilter{}, &istioapi.EnvoyFilter{})
}

// decodeIstio decodes an Istio object strictly. Istio's Go types read their spec with a decoder that
// skips unknown fields, so the object is decoded into its client-go type for the envelope and the
// spec again by protojson, which refuses them; spec is filled and returned.
func decodeIstio[S proto.Message](t *testing.T, o renderedObject, obj any, spec S) S {
	t.Helper()
	decodeStrict(t, o, obj)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(o.JSON, &top); err != nil {
		t.Fatal(err)
	}
	for k := range top {
		if !slices.Contains([]string{"apiVersion", "kind", "metadata", "spec"}, k) {
			t.Errorf("%s %s: unexpected top-level field %q", o.key(), o.Name, k)
		}
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(top["spec"], spec); err != nil {
		t.Fatalf("%s %s: spec: %v", o.key(), o.Name, err)
	}
	return spec
}

// decodePatchValue decodes an EnvoyFilter patch value (a Struct, which Istio converts the same way)
// into the Envoy type it patches, refusing unknown fields.
func decodePatchValue[M proto.Message](t *testing.T, v *structpb.Struct, into M) M {
	t.Helper()
	js, err := protojson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, into); err != nil {
		t.Fatalf("patch value into %T: %v\n%s", into, err, js)
	}
	return into
}

// validateEnvoy runs the validation Envoy applies when it loads a config message.
func validateEnvoy(t *testing.T, m proto.Message) {
	t.Helper()
	v, ok := m.(interface{ ValidateAll() error })
	if !ok {
		t.Fatalf("%T has no ValidateAll", m)
	}
	if err := v.ValidateAll(); err != nil {
		t.Errorf("%T: %v", m, err)
	}
}

// istioCRDFile is the CRD file of the Istio API release whose Go types the tests decode into.
func istioCRDFile(t *testing.T) string {
	t.Helper()
	return filepath.Join(moduleDir(t, "istio.io/api"), "kubernetes/customresourcedefinitions.gen.yaml")
}
