package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/cpen/router/config"
	"github.com/cpen/router/envoy"
)

const (
	envoyGatewayValues = "testdata/extproc-envoygateway.yaml"
	// The chart's own Envoy bootstrap, whose ext_proc settings every attachment must repeat.
	bootstrapFile = "../../envoy/envoy.yaml"
	// The header the sidecar sets to name the provider cluster.
	clusterHeader = "x-cpen-upstream-cluster"
)

// providerRouteRemovedHeaders are removed from every request sent to a provider, as the chart's own
// Envoy removes them: neither the internal cluster name nor the client's address leaves.
func providerRouteRemovedHeaders() []string {
	return []string{clusterHeader, "x-forwarded-for", "x-envoy-external-address"}
}

// TestEnvoyGatewayAttachment renders the Envoy Gateway values file and checks every attachment
// object: strictly decoded into Envoy Gateway's and Gateway API's Go types, valid under the CRD
// schemas those modules ship, and wired together: the policy runs the chart's ext_proc Service on
// the chart's HTTPRoute with the ext_proc settings of envoy/envoy.yaml, and every provider cluster of
// the rendered catalog has its rule, Backend and BackendTLSPolicy.
func TestEnvoyGatewayAttachment(t *testing.T) {
	objs := render(t, envoyGatewayValues)
	crds := newCRDSchemas(t, envoyGatewayCRDFiles(t)...)

	wantKinds := map[string]int{
		"gateway.envoyproxy.io/v1alpha1/EnvoyExtensionPolicy": 1,
		"gateway.networking.k8s.io/v1/HTTPRoute":              1,
		"gateway.envoyproxy.io/v1alpha1/Backend":              3,
		"gateway.networking.k8s.io/v1/BackendTLSPolicy":       3,
		"gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy": 1,
		"gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy":  1,
	}
	counts := kindCounts(objs)
	for key, n := range wantKinds {
		if counts[key] != n {
			t.Errorf("%s: %d rendered, want %d", key, counts[key], n)
		}
	}
	for _, o := range objs {
		if strings.HasPrefix(o.APIVersion, "gateway.") {
			crds.validate(t, o)
		}
		if strings.Contains(o.APIVersion, "istio.io/") {
			t.Errorf("%s %s rendered with only Envoy Gateway enabled", o.key(), o.Name)
		}
	}

	providers := catalogProviders(t, objs)
	if len(providers) != 3 {
		t.Fatalf("catalog in effect has %d provider clusters, want the default catalog's 3: %v", len(providers), providers)
	}

	// The policy: the sidecar's Service as ext_proc on the chart's HTTPRoute.
	var policy egv1a1.EnvoyExtensionPolicy
	decodeStrict(t, only(t, objs, "gateway.envoyproxy.io/v1alpha1/EnvoyExtensionPolicy"), &policy)
	if policy.Namespace != releaseNamespace || policy.Name != releaseFullname {
		t.Errorf("policy is %s/%s, want %s/%s", policy.Namespace, policy.Name, releaseNamespace, releaseFullname)
	}
	wantTarget := []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
		LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{
			Group: "gateway.networking.k8s.io", Kind: "HTTPRoute", Name: releaseFullname,
		},
	}}
	if !sameJSON(policy.Spec.PolicyTargetReferences, egv1a1.PolicyTargetReferences{TargetRefs: wantTarget}) {
		t.Errorf("policy targets %s, want only the chart's HTTPRoute %s", jsonOf(policy.Spec.PolicyTargetReferences), jsonOf(wantTarget))
	}
	if len(policy.Spec.ExtProc) != 1 || len(policy.Spec.Wasm)+len(policy.Spec.Lua)+len(policy.Spec.DynamicModule) != 0 {
		t.Fatalf("policy spec %s, want exactly one ext_proc and no other extension", jsonOf(policy.Spec))
	}
	ep := policy.Spec.ExtProc[0]
	if len(ep.BackendRefs) != 1 {
		t.Fatalf("ext_proc has %d backendRefs, want 1", len(ep.BackendRefs))
	}
	ref := ep.BackendRefs[0].BackendObjectReference
	if ref.Group != nil || ref.Kind != nil || ref.Namespace != nil || ref.Port == nil || ep.BackendRef != nil {
		t.Fatalf("ext_proc backend %s: want one Service of the release namespace, with a port", jsonOf(ep.BackendCluster))
	}
	checkExtProcService(t, objs, string(ref.Name), *ref.Port)
	if got, want := effectiveExtProc(envoyGatewayExtProc(t, ep)), bootstrapExtProcSettings(t); !proto.Equal(got, want) {
		t.Errorf("ext_proc as Envoy Gateway configures it:\n%s\nwant the settings of %s:\n%s", got, bootstrapFile, want)
	}
	wantSettings := &egv1a1.ClusterSettings{
		CircuitBreaker: &egv1a1.CircuitBreaker{MaxParallelRequests: ptrOf[int64](16384), MaxPendingRequests: ptrOf[int64](8192)},
		Connection:     &egv1a1.BackendConnection{BufferLimit: ptrOf(resource.MustParse("16Mi"))},
		HTTP2: &egv1a1.HTTP2Settings{
			InitialStreamWindowSize:     ptrOf(resource.MustParse("1Mi")),
			InitialConnectionWindowSize: ptrOf(resource.MustParse("4Mi")),
			ConnectionKeepalive: &egv1a1.HTTP2KeepaliveSettings{
				Interval: ptrOf(gwapiv1.Duration("30s")), Timeout: ptrOf(gwapiv1.Duration("5s")),
			},
		},
	}
	if !sameJSON(ep.BackendSettings, wantSettings) {
		t.Errorf("ext_proc backendSettings %s, want %s", jsonOf(ep.BackendSettings), jsonOf(wantSettings))
	}
	checkBootstrapExtProcCluster(t)

	// The route: attached to the Gateway's listener, a rule per provider cluster, then the entry.
	var route gwapiv1.HTTPRoute
	decodeStrict(t, only(t, objs, "gateway.networking.k8s.io/v1/HTTPRoute"), &route)
	if route.Namespace != releaseNamespace || route.Name != releaseFullname {
		t.Errorf("route is %s/%s, want %s/%s", route.Namespace, route.Name, releaseNamespace, releaseFullname)
	}
	wantParents := []gwapiv1.ParentReference{{
		Group: ptrOf(gwapiv1.Group("gateway.networking.k8s.io")), Kind: ptrOf(gwapiv1.Kind("Gateway")),
		Name: "llm-gateway", Namespace: ptrOf(gwapiv1.Namespace("gateways")), SectionName: ptrOf(gwapiv1.SectionName("https")),
	}}
	if !sameJSON(route.Spec.ParentRefs, wantParents) {
		t.Errorf("route parentRefs %s, want %s", jsonOf(route.Spec.ParentRefs), jsonOf(wantParents))
	}
	if !slices.Equal(route.Spec.Hostnames, []gwapiv1.Hostname{"llm.example.com"}) {
		t.Errorf("route hostnames %v, want [llm.example.com]", route.Spec.Hostnames)
	}
	checkEnvoyGatewayRules(t, objs, route.Spec.Rules, providers)

	// The route's traffic settings, which the chart's own Envoy has in its bootstrap.
	var btp egv1a1.BackendTrafficPolicy
	decodeStrict(t, only(t, objs, "gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy"), &btp)
	if btp.Namespace != releaseNamespace || !sameJSON(btp.Spec.PolicyTargetReferences, egv1a1.PolicyTargetReferences{TargetRefs: wantTarget}) {
		t.Errorf("BackendTrafficPolicy %s/%s targets %s, want the chart's HTTPRoute", btp.Namespace, btp.Name, jsonOf(btp.Spec.PolicyTargetReferences))
	}
	wantBTP := egv1a1.BackendTrafficPolicySpec{
		PolicyTargetReferences: egv1a1.PolicyTargetReferences{TargetRefs: wantTarget},
		ClusterSettings: egv1a1.ClusterSettings{
			CircuitBreaker: &egv1a1.CircuitBreaker{
				MaxConnections: ptrOf[int64](16384), MaxPendingRequests: ptrOf[int64](4096),
				MaxParallelRequests: ptrOf[int64](16384), MaxParallelRetries: ptrOf[int64](3),
			},
			Timeout: &egv1a1.Timeout{TCP: &egv1a1.TCPTimeout{ConnectTimeout: ptrOf(gwapiv1.Duration("5s"))}},
			DNS:     &egv1a1.DNS{LookupFamily: ptrOf(egv1a1.IPv4PreferredDNSLookupFamily)},
		},
		RequestBuffer: &egv1a1.RequestBuffer{Limit: resource.MustParse("4Mi")},
	}
	if !sameJSON(btp.Spec, wantBTP) {
		t.Errorf("BackendTrafficPolicy spec\n%s\nwant\n%s", jsonOf(btp.Spec), jsonOf(wantBTP))
	}
	if btp.Spec.RequestBuffer.Limit.Value() != 4<<20 {
		t.Errorf("request buffer limit %d bytes, want 4 MiB", btp.Spec.RequestBuffer.Limit.Value())
	}

	// The Gateway listener's settings, in the Gateway's namespace.
	var ctp egv1a1.ClientTrafficPolicy
	decodeStrict(t, only(t, objs, "gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy"), &ctp)
	wantCTP := egv1a1.ClientTrafficPolicySpec{
		PolicyTargetReferences: egv1a1.PolicyTargetReferences{TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
			LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "llm-gateway"},
			SectionName:                ptrOf(gwapiv1.SectionName("https")),
		}}},
		Connection:        &egv1a1.ClientConnection{BufferLimit: ptrOf(resource.MustParse("4Mi"))},
		ClientIPDetection: &egv1a1.ClientIPDetectionSettings{XForwardedFor: &egv1a1.XForwardedForSettings{NumTrustedHops: ptrOf[uint32](1)}},
		Timeout:           &egv1a1.ClientTimeout{HTTP: &egv1a1.HTTPClientTimeout{StreamIdleTimeout: ptrOf(gwapiv1.Duration("300s"))}},
	}
	if ctp.Namespace != "gateways" || !sameJSON(ctp.Spec, wantCTP) {
		t.Errorf("ClientTrafficPolicy %s/%s spec\n%s\nwant, in namespace gateways,\n%s", ctp.Namespace, ctp.Name, jsonOf(ctp.Spec), jsonOf(wantCTP))
	}
}

// TestEnvoyGatewayDefaults: with only the required values the route attaches to every listener of a
// Gateway in the release's namespace, for every host name, and the Gateway's own settings are left
// alone (no ClientTrafficPolicy).
func TestEnvoyGatewayDefaults(t *testing.T) {
	objs := render(t, valuesFile(t, "mode: extproc\nenvoyGateway:\n  enabled: true\n  gatewayRef:\n    name: eg\n"))
	var route gwapiv1.HTTPRoute
	decodeStrict(t, only(t, objs, "gateway.networking.k8s.io/v1/HTTPRoute"), &route)
	wantParents := []gwapiv1.ParentReference{{
		Group: ptrOf(gwapiv1.Group("gateway.networking.k8s.io")), Kind: ptrOf(gwapiv1.Kind("Gateway")),
		Name: "eg", Namespace: ptrOf(gwapiv1.Namespace(releaseNamespace)),
	}}
	if !sameJSON(route.Spec.ParentRefs, wantParents) || route.Spec.Hostnames != nil {
		t.Errorf("route parentRefs %s hostnames %v, want %s and none", jsonOf(route.Spec.ParentRefs), route.Spec.Hostnames, jsonOf(wantParents))
	}
	if n := kindCounts(objs)["gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy"]; n != 0 {
		t.Errorf("%d ClientTrafficPolicies rendered by default, want none", n)
	}
}

// TestEnvoyGatewayExistingCatalog: a catalog in an existing ConfigMap cannot be read when the chart
// renders, so catalog.providers make the routes; providers sharing a cluster make one route, and a
// port in the authority is the Backend's port.
func TestEnvoyGatewayExistingCatalog(t *testing.T) {
	objs := render(t, envoyGatewayValues, valuesFile(t, `catalog:
  existingConfigMap: my-catalog
  providers:
    - {name: b, cluster: provider_b, authority: b.example.com, api_key_env: B_KEY}
    - {name: a, cluster: provider_a, authority: "a.example.com:8443", api_key_env: A_KEY}
    - {name: b2, cluster: provider_b, authority: b.example.com, api_key_env: B2_KEY}
`))
	var route gwapiv1.HTTPRoute
	decodeStrict(t, only(t, objs, "gateway.networking.k8s.io/v1/HTTPRoute"), &route)
	checkEnvoyGatewayRules(t, objs, route.Spec.Rules, []attachProvider{
		{Cluster: "provider_b", Host: "b.example.com", Port: 443},
		{Cluster: "provider_a", Host: "a.example.com", Port: 8443},
	})
}

// TestEnvoyGatewayRefusals: values that cannot attach fail the render with a message naming the
// value to fix.
func TestEnvoyGatewayRefusals(t *testing.T) {
	var sixteen strings.Builder
	sixteen.WriteString("catalog:\n  existingConfigMap: my-catalog\n  providers:\n")
	for i := range 16 {
		fmt.Fprintf(&sixteen, "    - {cluster: c%02d, authority: h%02d.example.com}\n", i, i)
	}
	tests := []struct {
		name   string
		values string
		want   string
	}{
		{"gateway mode", "mode: gateway", "envoyGateway.enabled needs mode: extproc"},
		{"no gateway", "envoyGateway: {gatewayRef: {name: ''}}", "envoyGateway.gatewayRef.name: name the Gateway"},
		{"unreadable catalog", "catalog: {existingConfigMap: my-catalog}", "catalog.providers: list the providers"},
		{"one name for two clusters", `catalog:
  existingConfigMap: my-catalog
  providers:
    - {cluster: p_a, authority: a.example.com}
    - {cluster: p-a, authority: b.example.com}
`, `provider clusters "p_a" and "p-a" give the same object name "rel-cpen-router-p-a"`},
		{"too many clusters", sixteen.String(), "envoyGateway: 16 provider clusters, at most 15 fit in one HTTPRoute"},
		{"bad host name", "envoyGateway: {hostnames: [Bad_Host]}", "at '/envoyGateway/hostnames/0': 'Bad_Host' does not match pattern"},
		{"unknown value", "envoyGateway: {gatewayRef: {nme: eg}}", "at '/envoyGateway/gatewayRef': additional properties 'nme' not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := renderError(t, helm3, []string{envoyGatewayValues, valuesFile(t, tt.values)})
			if !strings.Contains(msg, tt.want) {
				t.Errorf("helm template failed with\n%s\nwant a message containing %q", msg, tt.want)
			}
		})
	}
}

// checkEnvoyGatewayRules checks one rule per provider cluster, in catalog order, each matching the
// cluster header exactly and sending the request to its provider's Backend under TLS, then the
// entry rule without a backend.
func checkEnvoyGatewayRules(t *testing.T, objs []renderedObject, rules []gwapiv1.HTTPRouteRule, providers []attachProvider) {
	t.Helper()
	if len(rules) != len(providers)+1 {
		t.Fatalf("route has %d rules, want %d (one per provider cluster, then the entry rule)", len(rules), len(providers)+1)
	}
	backends := map[string]egv1a1.Backend{}
	for _, o := range objectsOfKind(objs, "gateway.envoyproxy.io/v1alpha1/Backend") {
		var b egv1a1.Backend
		decodeStrict(t, o, &b)
		backends[b.Name] = b
	}
	tlsPolicies := map[string]gwapiv1.BackendTLSPolicy{}
	for _, o := range objectsOfKind(objs, "gateway.networking.k8s.io/v1/BackendTLSPolicy") {
		var p gwapiv1.BackendTLSPolicy
		decodeStrict(t, o, &p)
		if len(p.Spec.TargetRefs) != 1 {
			t.Fatalf("BackendTLSPolicy %s targets %d objects, want 1", p.Name, len(p.Spec.TargetRefs))
		}
		tlsPolicies[string(p.Spec.TargetRefs[0].Name)] = p
	}
	if len(backends) != len(providers) || len(tlsPolicies) != len(providers) {
		t.Errorf("%d Backends and %d BackendTLSPolicies for %d provider clusters", len(backends), len(tlsPolicies), len(providers))
	}
	for i, p := range providers {
		rule := rules[i]
		wantRule := gwapiv1.HTTPRouteRule{
			Matches: []gwapiv1.HTTPRouteMatch{{
				Path:    &gwapiv1.HTTPPathMatch{Type: ptrOf(gwapiv1.PathMatchPathPrefix), Value: ptrOf("/")},
				Headers: []gwapiv1.HTTPHeaderMatch{{Type: ptrOf(gwapiv1.HeaderMatchExact), Name: clusterHeader, Value: p.Cluster}},
			}},
			Filters: []gwapiv1.HTTPRouteFilter{
				{Type: gwapiv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwapiv1.HTTPURLRewriteFilter{Hostname: ptrOf(gwapiv1.PreciseHostname(p.Host))}},
				{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwapiv1.HTTPHeaderFilter{Remove: providerRouteRemovedHeaders()}},
			},
			BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{
				Group: ptrOf(gwapiv1.Group("gateway.envoyproxy.io")), Kind: ptrOf(gwapiv1.Kind("Backend")),
				Name: gwapiv1.ObjectName(p.objectName()), Port: ptrOf(p.Port),
			}}}},
			Timeouts: &gwapiv1.HTTPRouteTimeouts{Request: ptrOf(gwapiv1.Duration("0s"))},
		}
		if !sameJSON(rule, wantRule) {
			t.Errorf("rule %d (%s):\n%s\nwant\n%s", i, p.Cluster, jsonOf(rule), jsonOf(wantRule))
		}
		b, ok := backends[p.objectName()]
		if !ok {
			t.Errorf("no Backend %s for cluster %s", p.objectName(), p.Cluster)
			continue
		}
		wantBackend := egv1a1.BackendSpec{Endpoints: []egv1a1.BackendEndpoint{{FQDN: &egv1a1.FQDNEndpoint{Hostname: p.Host, Port: p.Port}}}}
		if b.Namespace != releaseNamespace || !sameJSON(b.Spec, wantBackend) {
			t.Errorf("Backend %s/%s spec %s, want only the endpoint %s:%d", b.Namespace, b.Name, jsonOf(b.Spec), p.Host, p.Port)
		}
		tp, ok := tlsPolicies[b.Name]
		if !ok {
			t.Errorf("Backend %s has no BackendTLSPolicy", b.Name)
			continue
		}
		wantTLS := gwapiv1.BackendTLSPolicySpec{
			TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
				LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: "gateway.envoyproxy.io", Kind: "Backend", Name: gwapiv1.ObjectName(b.Name)},
			}},
			Validation: gwapiv1.BackendTLSPolicyValidation{
				WellKnownCACertificates: ptrOf(gwapiv1.WellKnownCACertificatesSystem),
				Hostname:                gwapiv1.PreciseHostname(p.Host),
			},
		}
		if tp.Namespace != releaseNamespace || !sameJSON(tp.Spec, wantTLS) {
			t.Errorf("BackendTLSPolicy %s/%s spec %s, want %s", tp.Namespace, tp.Name, jsonOf(tp.Spec), jsonOf(wantTLS))
		}
	}
	wantEntry := gwapiv1.HTTPRouteRule{Matches: []gwapiv1.HTTPRouteMatch{{
		Path: &gwapiv1.HTTPPathMatch{Type: ptrOf(gwapiv1.PathMatchPathPrefix), Value: ptrOf("/")},
	}}}
	if entry := rules[len(providers)]; !sameJSON(entry, wantEntry) {
		t.Errorf("entry rule %s, want %s", jsonOf(entry), jsonOf(wantEntry))
	}
}

// envoyGatewayExtProc is the ext_proc filter configuration Envoy Gateway builds from an ExtProc of a
// policy, reduced to the settings the sidecar depends on: a direction named in processingMode has its
// headers sent and its body sent as stated, an absent one is skipped; trailers are skipped; the
// metadata namespaces become metadata_options.
func envoyGatewayExtProc(t *testing.T, ep egv1a1.ExtProc) *extprocv3.ExternalProcessor {
	t.Helper()
	bodyModes := map[egv1a1.ExtProcBodyProcessingMode]extprocv3.ProcessingMode_BodySendMode{
		egv1a1.StreamedExtProcBodyProcessingMode:          extprocv3.ProcessingMode_STREAMED,
		egv1a1.BufferedExtProcBodyProcessingMode:          extprocv3.ProcessingMode_BUFFERED,
		egv1a1.BufferedPartialExtBodyHeaderProcessingMode: extprocv3.ProcessingMode_BUFFERED_PARTIAL,
		egv1a1.FullDuplexStreamedExtBodyProcessingMode:    extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED,
	}
	bodyMode := func(m *egv1a1.ExtProcBodyProcessingMode) extprocv3.ProcessingMode_BodySendMode {
		if m == nil {
			return extprocv3.ProcessingMode_NONE
		}
		mode, ok := bodyModes[*m]
		if !ok {
			t.Fatalf("unknown body processing mode %q", *m)
		}
		return mode
	}
	out := &extprocv3.ExternalProcessor{ProcessingMode: &extprocv3.ProcessingMode{
		RequestHeaderMode:   extprocv3.ProcessingMode_SKIP,
		ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
		RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
		ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
	}}
	if pm := ep.ProcessingMode; pm != nil {
		out.AllowModeOverride = pm.AllowModeOverride
		if pm.Request != nil {
			out.ProcessingMode.RequestHeaderMode = extprocv3.ProcessingMode_SEND
			out.ProcessingMode.RequestBodyMode = bodyMode(pm.Request.Body)
			out.RequestAttributes = pm.Request.Attributes
		}
		if pm.Response != nil {
			out.ProcessingMode.ResponseHeaderMode = extprocv3.ProcessingMode_SEND
			out.ProcessingMode.ResponseBodyMode = bodyMode(pm.Response.Body)
			out.ResponseAttributes = pm.Response.Attributes
		}
	}
	if ep.MessageTimeout != nil {
		d, err := time.ParseDuration(string(*ep.MessageTimeout))
		if err != nil {
			t.Fatalf("messageTimeout %q: %v", *ep.MessageTimeout, err)
		}
		out.MessageTimeout = durationpb.New(d)
	}
	if ep.FailOpen == nil {
		t.Errorf("ext_proc failOpen is not set; fail-closed must be stated, not left to a default")
	} else {
		out.FailureModeAllow = *ep.FailOpen
	}
	// Envoy Gateway passes the namespaces through as untyped ones: accessible namespaces are
	// forwarded to the processor, writable ones are the namespaces it may answer in.
	if md := ep.Metadata; md != nil && (md.AccessibleNamespaces != nil || md.WritableNamespaces != nil) {
		out.MetadataOptions = &extprocv3.MetadataOptions{}
		if md.AccessibleNamespaces != nil {
			out.MetadataOptions.ForwardingNamespaces = &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: md.AccessibleNamespaces}
		}
		if md.WritableNamespaces != nil {
			out.MetadataOptions.ReceivingNamespaces = &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: md.WritableNamespaces}
		}
	}
	if ep.StatusOnError != nil || ep.ShadowMode != nil {
		t.Errorf("ext_proc sets statusOnError or shadowMode, which the chart's own Envoy does not: %s", jsonOf(ep))
	}
	return out
}

// effectiveExtProc spells out the processing modes Envoy applies for DEFAULT (headers are sent,
// trailers skipped), so that two configurations differing only in how they say it compare equal.
func effectiveExtProc(ep *extprocv3.ExternalProcessor) *extprocv3.ExternalProcessor {
	out, _ := proto.Clone(ep).(*extprocv3.ExternalProcessor)
	if out.ProcessingMode == nil {
		out.ProcessingMode = &extprocv3.ProcessingMode{}
	}
	pm := out.ProcessingMode
	for _, m := range []*extprocv3.ProcessingMode_HeaderSendMode{&pm.RequestHeaderMode, &pm.ResponseHeaderMode} {
		if *m == extprocv3.ProcessingMode_DEFAULT {
			*m = extprocv3.ProcessingMode_SEND
		}
	}
	for _, m := range []*extprocv3.ProcessingMode_HeaderSendMode{&pm.RequestTrailerMode, &pm.ResponseTrailerMode} {
		if *m == extprocv3.ProcessingMode_DEFAULT {
			*m = extprocv3.ProcessingMode_SKIP
		}
	}
	return out
}

// loadBootstrap loads envoy/envoy.yaml as the envoy package does, Envoy's load-time rules included.
func loadBootstrap(t *testing.T) *bootstrapv3.Bootstrap {
	t.Helper()
	raw, err := os.ReadFile(bootstrapFile)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := envoy.Load(raw)
	if err != nil {
		t.Fatalf("load %s: %v", bootstrapFile, err)
	}
	return bs
}

// bootstrapExtProc is the one ext_proc filter of envoy/envoy.yaml.
func bootstrapExtProc(t *testing.T) *extprocv3.ExternalProcessor {
	t.Helper()
	var found []*extprocv3.ExternalProcessor
	for _, l := range loadBootstrap(t).GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					ep := &extprocv3.ExternalProcessor{}
					if hf.GetTypedConfig().UnmarshalTo(ep) == nil {
						found = append(found, ep)
					}
				}
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d ext_proc filters, want 1", bootstrapFile, len(found))
	}
	return found[0]
}

// bootstrapExtProcSettings is the bootstrap's ext_proc filter without how it reaches the sidecar
// (the gRPC service), which each attachment states its own way, with DEFAULT modes spelled out.
func bootstrapExtProcSettings(t *testing.T) *extprocv3.ExternalProcessor {
	t.Helper()
	ep := bootstrapExtProc(t)
	ep.GrpcService = nil
	return effectiveExtProc(ep)
}

// checkBootstrapExtProcCluster pins the bootstrap's settings of the sidecar's cluster that the
// policy's backendSettings repeat, so that a change there fails here until both agree.
func checkBootstrapExtProcCluster(t *testing.T) {
	t.Helper()
	name := bootstrapExtProc(t).GetGrpcService().GetEnvoyGrpc().GetClusterName()
	for _, c := range loadBootstrap(t).GetStaticResources().GetClusters() {
		if c.GetName() != name {
			continue
		}
		th := c.GetCircuitBreakers().GetThresholds()
		opts := &upstreamhttpv3.HttpProtocolOptions{}
		if err := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(opts); err != nil {
			t.Fatalf("bootstrap cluster %s protocol options: %v", name, err)
		}
		h2 := opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions()
		got := fmt.Sprintf("buffer=%d breakers=%d", c.GetPerConnectionBufferLimitBytes().GetValue(), len(th))
		if len(th) == 1 {
			got += fmt.Sprintf(" max_requests=%d max_pending=%d", th[0].GetMaxRequests().GetValue(), th[0].GetMaxPendingRequests().GetValue())
		}
		got += fmt.Sprintf(" stream_window=%d connection_window=%d ping=%s/%s", h2.GetInitialStreamWindowSize().GetValue(),
			h2.GetInitialConnectionWindowSize().GetValue(), h2.GetConnectionKeepalive().GetInterval().AsDuration(),
			h2.GetConnectionKeepalive().GetTimeout().AsDuration())
		want := "buffer=16777216 breakers=1 max_requests=16384 max_pending=8192 stream_window=1048576 connection_window=4194304 ping=30s/5s"
		if got != want {
			t.Errorf("bootstrap cluster %s:\n%s\nthe policy's backendSettings say\n%s", name, got, want)
		}
		return
	}
	t.Fatalf("bootstrap has no cluster %q", name)
}

// checkExtProcService checks that the chart renders the Service an attachment points at, with the
// port it names, speaking cleartext HTTP/2 as gRPC needs.
func checkExtProcService(t *testing.T, objs []renderedObject, name string, port gwapiv1.PortNumber) {
	t.Helper()
	var svc corev1.Service
	decodeStrict(t, named(t, objs, "v1/Service", name), &svc)
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			if p.AppProtocol == nil || *p.AppProtocol != "kubernetes.io/h2c" {
				t.Errorf("Service %s port %d appProtocol %v, want kubernetes.io/h2c", name, port, p.AppProtocol)
			}
			return
		}
	}
	t.Fatalf("Service %s has no port %d: %s", name, port, jsonOf(svc.Spec.Ports))
}

// attachProvider is one provider cluster as the attachments route to it.
type attachProvider struct {
	Cluster, Host string
	Port          int32
}

// objectName is the name of the objects made for the cluster.
func (p attachProvider) objectName() string {
	return releaseFullname + "-" + strings.ReplaceAll(p.Cluster, "_", "-")
}

// catalogProviders reads the catalog the chart renders with the sidecar's own loader and returns
// its provider clusters in catalog order, each once.
func catalogProviders(t *testing.T, objs []renderedObject) []attachProvider {
	t.Helper()
	var catalogs []*config.Catalog
	for _, o := range objectsOfKind(objs, "v1/ConfigMap") {
		var cm corev1.ConfigMap
		decodeStrict(t, o, &cm)
		for _, v := range cm.Data {
			if c, err := config.Load([]byte(v)); err == nil {
				catalogs = append(catalogs, c)
			}
		}
	}
	if len(catalogs) != 1 {
		t.Fatalf("%d rendered ConfigMap entries load as a catalog, want 1", len(catalogs))
	}
	var out []attachProvider
	for _, p := range catalogs[0].Providers {
		if slices.ContainsFunc(out, func(q attachProvider) bool { return q.Cluster == p.Cluster }) {
			continue
		}
		host, port := p.Authority, int32(443)
		if h, ps, ok := strings.Cut(p.Authority, ":"); ok {
			n, err := strconv.ParseInt(ps, 10, 32)
			if err != nil {
				t.Fatalf("provider %s authority %q: %v", p.Name, p.Authority, err)
			}
			host, port = h, int32(n)
		}
		out = append(out, attachProvider{Cluster: p.Cluster, Host: host, Port: port})
	}
	return out
}

// crdSchemas holds the OpenAPI schema of every served version of some CRDs, to check what Go types
// cannot: enums, patterns, bounds and required fields. (CEL rules are not evaluated.)
type crdSchemas map[string]*jsonschema.Schema

// newCRDSchemas compiles the schemas of the CRDs in the given YAML files.
func newCRDSchemas(t *testing.T, files ...string) crdSchemas {
	t.Helper()
	c := jsonschema.NewCompiler()
	out := crdSchemas{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split("\n"+string(raw), "\n---") {
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			var crd struct {
				Kind string `json:"kind"`
				Spec struct {
					Group string `json:"group"`
					Names struct {
						Kind string `json:"kind"`
					} `json:"names"`
					Versions []struct {
						Name   string `json:"name"`
						Served bool   `json:"served"`
						Schema struct {
							OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
						} `json:"schema"`
					} `json:"versions"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(js, &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if !v.Served || v.Schema.OpenAPIV3Schema == nil {
					continue
				}
				key := crd.Spec.Group + "/" + v.Name + "/" + crd.Spec.Names.Kind
				doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(v.Schema.OpenAPIV3Schema))
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				url := "mem:///" + key + ".json"
				if err := c.AddResource(url, doc); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				sch, err := c.Compile(url)
				if err != nil {
					t.Fatalf("compile the schema of %s: %v", key, err)
				}
				out[key] = sch
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no CRD schema found in %v", files)
	}
	return out
}

// validate checks a rendered object against its CRD's schema; a kind without one fails.
func (s crdSchemas) validate(t *testing.T, o renderedObject) {
	t.Helper()
	sch, ok := s[o.key()]
	if !ok {
		t.Errorf("%s %s: no served CRD version for it", o.key(), o.Name)
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(o.JSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s %s does not match its CRD schema: %v", o.key(), o.Name, err)
	}
}

// moduleDir is where the module cache holds a module this test module requires.
func moduleDir(t *testing.T, module string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatalf("module %s is not in the module cache", module)
	}
	return dir
}

// envoyGatewayCRDFiles are the CRDs of the Envoy Gateway and Gateway API releases whose Go types
// the tests decode into, as those modules ship them.
func envoyGatewayCRDFiles(t *testing.T) []string {
	t.Helper()
	eg, err := filepath.Glob(filepath.Join(moduleDir(t, "github.com/envoyproxy/gateway"), "charts/gateway-helm/charts/crds/crds/generated/*.yaml"))
	if err != nil || len(eg) == 0 {
		t.Fatalf("Envoy Gateway CRDs not found (%v)", err)
	}
	gw, err := filepath.Glob(filepath.Join(moduleDir(t, "sigs.k8s.io/gateway-api"), "config/crd/standard/*.yaml"))
	if err != nil || len(gw) == 0 {
		t.Fatalf("Gateway API CRDs not found (%v)", err)
	}
	return append(eg, gw...)
}

func ptrOf[T any](v T) *T { return &v }

func jsonOf(v any) string {
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(js)
}

// sameJSON compares two values by their JSON forms, as the API server would store them.
func sameJSON(a, b any) bool { return jsonOf(a) == jsonOf(b) }
