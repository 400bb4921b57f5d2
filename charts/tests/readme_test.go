package tests

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

const chartReadme = "../cpen-router/README.md"

// readmeSnippet returns the YAML block that follows "<!-- snippet: NAME -->" in the chart README.
func readmeSnippet(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(chartReadme)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- snippet: " + regexp.QuoteMeta(name) + " -->\n```yaml\n(.*?)```")
	m := re.FindSubmatch(raw)
	if m == nil {
		t.Fatalf("README has no snippet %q", name)
	}
	return m[1]
}

// decodeSnippet decodes a one-element YAML list into an Envoy message, unknown fields refused, and
// runs Envoy's load-time validation on it and on the typed configs inside it.
func decodeSnippet(t *testing.T, name string, into proto.Message) {
	t.Helper()
	var list []any
	if err := yaml.Unmarshal(readmeSnippet(t, name), &list); err != nil || len(list) != 1 {
		t.Fatalf("snippet %q: %v (%d items), want a one-element YAML list", name, err, len(list))
	}
	js, err := yamlJSON(list[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, into); err != nil {
		t.Fatalf("snippet %q: %v", name, err)
	}
	if err := into.(interface{ ValidateAll() error }).ValidateAll(); err != nil {
		t.Errorf("snippet %q: %v", name, err)
	}
}

func yamlJSON(v any) ([]byte, error) {
	y, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return yaml.YAMLToJSON(y)
}

// TestReadmeEnvoySnippets: the README's filter and cluster for teams with their own Envoy decode
// into go-control-plane's types, pass Envoy's validation, and are envoy/envoy.yaml's ext_proc filter
// and cluster (the cluster resolving the Service's DNS name instead of a fixed address).
func TestReadmeEnvoySnippets(t *testing.T) {
	bs := loadBootstrap(t)

	var filter hcmv3.HttpFilter
	decodeSnippet(t, "ext_proc filter", &filter)
	var got extprocv3.ExternalProcessor
	if err := filter.GetTypedConfig().UnmarshalTo(&got); err != nil {
		t.Fatalf("snippet filter is not ext_proc: %v", err)
	}
	if err := got.ValidateAll(); err != nil {
		t.Error(err)
	}
	want := bootstrapExtProc(t)
	if filter.GetName() != "envoy.filters.http.ext_proc" || !proto.Equal(&got, want) {
		t.Errorf("README ext_proc filter\n%v\nwant envoy/envoy.yaml's\n%v", protojson.Format(&got), protojson.Format(want))
	}

	var cluster clusterv3.Cluster
	decodeSnippet(t, "ext_proc cluster", &cluster)
	var opts upstreamhttpv3.HttpProtocolOptions
	if err := cluster.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(&opts); err != nil {
		t.Fatalf("snippet cluster protocol options: %v", err)
	}
	if err := opts.ValidateAll(); err != nil {
		t.Error(err)
	}
	var file *clusterv3.Cluster
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() == "cpen_extproc" {
			file = proto.Clone(c).(*clusterv3.Cluster)
		}
	}
	if file == nil {
		t.Fatal("envoy/envoy.yaml has no cpen_extproc cluster")
	}
	addr := cluster.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if cluster.GetType() != clusterv3.Cluster_STRICT_DNS || addr.GetAddress() != "cpen-cpen-router.llm.svc.cluster.local" ||
		addr.GetPortValue() != 50051 || addr.GetProtocol() != corev3.SocketAddress_TCP {
		t.Errorf("README cluster type %v address %v, want STRICT_DNS to the Service cpen-cpen-router.llm:50051", cluster.GetType(), addr)
	}
	file.ClusterDiscoveryType = cluster.ClusterDiscoveryType
	file.LoadAssignment = cluster.LoadAssignment
	if diff := jsonDiff(canonicalMessage(t, file), canonicalMessage(t, &cluster), "cluster"); len(diff) > 0 {
		t.Errorf("README cluster differs from envoy/envoy.yaml's cpen_extproc beyond type and address:\n%s", joinLines(diff))
	}
}

// TestReadmeDocumentsEveryValue: every value of values.yaml has its row in the chart README (maps
// the templates pass through whole, such as resources, count as one value).
func TestReadmeDocumentsEveryValue(t *testing.T) {
	readme, err := os.ReadFile(chartReadme)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../cpen-router/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	for _, path := range valuePaths(values, "") {
		if !strings.Contains(string(readme), fmt.Sprintf("| `%s` |", path)) {
			t.Errorf("README has no row for `%s`", path)
		}
	}
}

// passedWhole tells the values the templates hand to Kubernetes (or the sidecar) as they are.
func passedWhole(key string) bool {
	switch key {
	case "resources", "podSecurityContext", "securityContext", "inline", "values", "envoySelector", "labels",
		"annotations", "nodeSelector", "affinity", "podAnnotations", "podLabels":
		return true
	}
	return false
}

// valuePaths lists the dotted paths of the values, descending into maps but not those passed whole.
func valuePaths(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		path := prefix + k
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !passedWhole(k) {
			out = append(out, valuePaths(sub, path+".")...)
			continue
		}
		out = append(out, path)
	}
	return out
}
