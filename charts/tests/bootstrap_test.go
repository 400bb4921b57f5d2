package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	"github.com/cpen/router/envoy"
)

// The project's bootstrap and the chart's copy of it.
const (
	projectBootstrap = "../../envoy/envoy.yaml"
	chartBootstrap   = "../cpen-router/files/envoy.yaml"
)

func itoa[N ~int | ~int32 | ~uint32 | ~int64](n N) string { return strconv.FormatInt(int64(n), 10) }

// renderedBootstrap loads the rendered Envoy bootstrap with envoy.Load: decoded into
// go-control-plane's Bootstrap with unknown fields refused, every typed config resolved, and
// ValidateAll run on it and on every config inside it.
func renderedBootstrap(t *testing.T, objs []renderedObject) *bootstrapv3.Bootstrap {
	t.Helper()
	var cm corev1.ConfigMap
	decodeStrict(t, named(t, objs, "v1/ConfigMap", releaseFullname+"-envoy"), &cm)
	text, ok := cm.Data["envoy.yaml"]
	if !ok || len(cm.Data) != 1 {
		t.Fatalf("Envoy ConfigMap keys %v, want only envoy.yaml", slices.Collect(maps.Keys(cm.Data)))
	}
	bs, err := envoy.Load([]byte(text))
	if err != nil {
		t.Fatalf("rendered bootstrap does not load: %v\n%s", err, text)
	}
	return bs
}

// extProcEndpoint is the one endpoint of the ext_proc cluster: "pipe:PATH" or "HOST:PORT".
func extProcEndpoint(t *testing.T, objs []renderedObject) string {
	t.Helper()
	for _, c := range renderedBootstrap(t, objs).GetStaticResources().GetClusters() {
		if c.GetName() != "cpen_extproc" {
			continue
		}
		eps := c.GetLoadAssignment().GetEndpoints()
		if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
			t.Fatalf("cpen_extproc has endpoints %v, want one", eps)
		}
		addr := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress()
		if p := addr.GetPipe(); p != nil {
			return "pipe:" + p.GetPath()
		}
		sa := addr.GetSocketAddress()
		return sa.GetAddress() + ":" + itoa(sa.GetPortValue())
	}
	t.Fatal("no cpen_extproc cluster")
	return ""
}

// TestChartBootstrapIsProjectBootstrap: the chart ships envoy/envoy.yaml byte for byte, so the
// two cannot drift apart.
func TestChartBootstrapIsProjectBootstrap(t *testing.T) {
	want, err := os.ReadFile(projectBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(chartBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s; copy it again (cp envoy/envoy.yaml charts/cpen-router/files/envoy.yaml)", chartBootstrap, projectBootstrap)
	}
}

// podBootstrap is what the chart must change in envoy/envoy.yaml for a pod, and nothing else.
type podBootstrap struct {
	adminHost  string
	adminPort  int
	port       int
	xff        int
	socket     string
	providers  []providerCluster // in catalog order, one per cluster
	verbatimOK bool              // every provider cluster is also in envoy.yaml, unchanged
}

type providerCluster struct {
	name, host string
	port       int
}

// TestBootstrapIsProjectBootstrapWithPodSettings renders the bootstrap under several values and
// compares it with envoy/envoy.yaml changed, independently of the chart's template, in the places a
// pod needs: admin address, listener port, trusted hops, the ext_proc cluster's endpoint (the Unix
// socket), and the provider clusters (copies of the file's first TLS provider cluster, one per
// catalog cluster). The bootstrap must equal that exactly.
func TestBootstrapIsProjectBootstrapWithPodSettings(t *testing.T) {
	defaultProviders := []providerCluster{
		{"provider_openai", "api.openai.com", 443},
		{"provider_gemini", "generativelanguage.googleapis.com", 443},
		{"provider_mistral", "api.mistral.ai", 443},
	}
	tests := []struct {
		name  string
		files []string
		set   []string
		want  podBootstrap
	}{
		{"defaults", nil, nil, podBootstrap{
			adminHost: "127.0.0.1", adminPort: 9901, port: 10000, socket: "/run/cpen/extproc.sock",
			providers: defaultProviders, verbatimOK: true,
		}},
		{"ports, hops, exposed admin", nil,
			[]string{"envoy.port=8080", "envoy.adminPort=9911", "envoy.xffNumTrustedHops=2", "admin.expose=true"},
			podBootstrap{
				adminHost: "0.0.0.0", adminPort: 9911, port: 8080, xff: 2, socket: "/run/cpen/extproc.sock",
				providers: defaultProviders, verbatimOK: true,
			}},
		{"inline catalog: a port in the authority, two providers on one cluster", []string{"testdata-inline-providers"}, nil,
			podBootstrap{
				adminHost: "127.0.0.1", adminPort: 9901, port: 10000, socket: "/run/cpen/extproc.sock",
				providers: []providerCluster{
					{"provider_a", "llm.a.example", 443},
					{"provider_b", "gw.b.example", 8443},
				},
			}},
		{"existing ConfigMap with its providers listed", nil,
			[]string{"catalog.existingConfigMap=team-catalog", "catalog.providers[0].name=openai",
				"catalog.providers[0].cluster=provider_openai", "catalog.providers[0].authority=api.openai.com",
				"catalog.providers[0].api_key_env=OPENAI_API_KEY"},
			podBootstrap{
				adminHost: "127.0.0.1", adminPort: 9901, port: 10000, socket: "/run/cpen/extproc.sock",
				providers: defaultProviders[:1], verbatimOK: true,
			}},
	}
	project := projectJSON(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := tt.files
			if slices.Equal(files, []string{"testdata-inline-providers"}) {
				files = []string{valuesFile(t, inlineProvidersValues)}
			}
			got := canonical(t, renderedBootstrap(t, renderSet(t, files, tt.set...)))
			want := expectedBootstrap(t, project, tt.want)
			if diff := jsonDiff(want, got, ""); len(diff) > 0 {
				t.Errorf("rendered bootstrap differs from envoy/envoy.yaml with the pod's settings:\n%s", joinLines(diff))
			}
			if tt.want.verbatimOK {
				checkProvidersVerbatim(t, project, got)
			}
		})
	}
}

// inlineProvidersValues is a catalog whose providers differ from envoy.yaml's: a port in an
// authority, and two providers (two keys) on one cluster.
const inlineProvidersValues = `
catalog:
  inline:
    tiers:
      - {alias: cpen/middle, level: middle, min_total_per_1m: "0.05", max_total_per_1m: "0.35", status: available}
    providers:
      - {name: a, cluster: provider_a, authority: llm.a.example, api_key_env: A_KEY}
      - {name: b, cluster: provider_b, authority: "gw.b.example:8443", api_key_env: B_KEY}
      - {name: a2, cluster: provider_a, authority: llm.a.example, api_key_env: A2_KEY}
    routes:
      - {id: r1, tier: middle, provider: a, model: m1, model_family: f, input_per_1m: "0.1", output_per_1m: "0.2", currency: USD, status: live}
      - {id: r2, tier: middle, provider: b, model: m2, model_family: f, input_per_1m: "0.1", output_per_1m: "0.2", currency: USD, status: live}
`

// projectJSON is envoy/envoy.yaml, loaded and validated, as canonical JSON.
func projectJSON(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(projectBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := envoy.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	return canonical(t, bs)
}

// canonical is a Bootstrap as a JSON tree with proto field names and typed configs expanded, so
// two bootstraps compare field by field whatever their YAML looked like.
func canonical(t *testing.T, bs *bootstrapv3.Bootstrap) map[string]any {
	t.Helper()
	return canonicalMessage(t, bs)
}

// canonicalMessage is any Envoy config message as such a JSON tree.
func canonicalMessage(t *testing.T, m proto.Message) map[string]any {
	t.Helper()
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectedBootstrap applies a pod's settings to a copy of envoy.yaml's JSON tree.
func expectedBootstrap(t *testing.T, project map[string]any, p podBootstrap) map[string]any {
	t.Helper()
	bs := deepCopyJSON(t, project)
	bs["admin"] = obj{"address": socketAddr(p.adminHost, p.adminPort)}
	sr := bs["static_resources"].(obj)
	listener := sr["listeners"].([]any)[0].(obj)
	listener["address"] = socketAddr("0.0.0.0", p.port)
	hcm := listener["filter_chains"].([]any)[0].(obj)["filters"].([]any)[0].(obj)["typed_config"].(obj)
	if p.xff == 0 {
		delete(hcm, "xff_num_trusted_hops") // proto3 JSON leaves zero values out
	} else {
		hcm["xff_num_trusted_hops"] = float64(p.xff)
	}

	var extProc, template obj
	for _, c := range sr["clusters"].([]any) {
		c := c.(obj)
		switch {
		case c["name"] == "cpen_extproc":
			extProc = c
		case template == nil && c["type"] == "LOGICAL_DNS" && c["transport_socket"] != nil:
			template = c
		}
	}
	if extProc == nil || template == nil {
		t.Fatal("envoy.yaml lacks the cpen_extproc cluster or a TLS provider cluster")
	}
	extProc["load_assignment"] = loadAssignment("cpen_extproc", obj{"pipe": obj{"path": p.socket}})
	clusters := []any{extProc}
	for _, pc := range p.providers {
		c := deepCopyJSON(t, template)
		c["name"] = pc.name
		c["load_assignment"] = loadAssignment(pc.name, socketAddr(pc.host, pc.port))
		tls := c["transport_socket"].(obj)["typed_config"].(obj)
		tls["sni"] = pc.host
		for _, san := range tls["common_tls_context"].(obj)["validation_context"].(obj)["match_typed_subject_alt_names"].([]any) {
			san.(obj)["matcher"] = obj{"exact": pc.host}
		}
		clusters = append(clusters, c)
	}
	sr["clusters"] = clusters
	return bs
}

// checkProvidersVerbatim: every provider cluster the chart renders from the catalog is, field for
// field, the cluster of that name written in envoy.yaml. The file's clusters and the default
// catalog's providers must therefore agree.
func checkProvidersVerbatim(t *testing.T, project, rendered map[string]any) {
	t.Helper()
	byName := func(bs map[string]any) map[string]any {
		out := map[string]any{}
		for _, c := range bs["static_resources"].(obj)["clusters"].([]any) {
			out[c.(obj)["name"].(string)] = c
		}
		return out
	}
	file, got := byName(project), byName(rendered)
	for name, c := range got {
		if name == "cpen_extproc" {
			continue
		}
		if diff := jsonDiff(file[name], c, name); len(diff) > 0 {
			t.Errorf("cluster %s differs from envoy.yaml's:\n%s", name, joinLines(diff))
		}
	}
}

type obj = map[string]any

func socketAddr(host string, port int) obj {
	return obj{"socket_address": obj{"address": host, "port_value": float64(port)}}
}

func loadAssignment(cluster string, addr obj) obj {
	return obj{
		"cluster_name": cluster,
		"endpoints":    []any{obj{"lb_endpoints": []any{obj{"endpoint": obj{"address": addr}}}}},
	}
}

func deepCopyJSON(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonDiff lists the paths where two JSON trees differ, with both values.
func jsonDiff(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if _, ok := g[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing, want %v", path, k, short(w[k])))
				continue
			}
			out = append(out, jsonDiff(w[k], g[k], path+"."+k)...)
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: unexpected %v", path, k, short(g[k])))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	if reflect.DeepEqual(want, got) {
		return nil
	}
	return []string{fmt.Sprintf("%s: got %v, want %v", path, short(got), short(want))}
}

func short(v any) string {
	js, _ := json.Marshal(v)
	if len(js) > 300 {
		return string(js[:300]) + "..."
	}
	return string(js)
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// TestBootstrapRollsPods: Envoy reads its bootstrap only at start, so a change to it must change
// the pod template (checksum/envoy) and roll the pods; a catalog change that keeps the providers
// must not, since the sidecar reloads the catalog in place.
func TestBootstrapRollsPods(t *testing.T) {
	checksum := func(files []string, set ...string) string {
		t.Helper()
		return routerPod(t, renderSet(t, files, set...)).Annotations["checksum/envoy"]
	}
	base := checksum(nil)
	if len(base) != 64 {
		t.Fatalf("checksum/envoy %q, want a SHA-256", base)
	}
	samePrices := valuesFile(t, `
catalog:
  inline:
    tiers:
      - {alias: cpen/middle, level: middle, min_total_per_1m: "0.05", max_total_per_1m: "0.35", status: available}
    providers:
      - {name: openai, cluster: provider_openai, authority: api.openai.com, path_prefix: /v1, api_key_env: OPENAI_API_KEY}
      - {name: gemini, cluster: provider_gemini, authority: generativelanguage.googleapis.com, api_key_env: GEMINI_API_KEY}
      - {name: mistral, cluster: provider_mistral, authority: api.mistral.ai, api_key_env: MISTRAL_API_KEY}
    routes:
      - {id: r1, tier: middle, provider: openai, model: m, model_family: f, input_per_1m: "0.1", output_per_1m: "0.2", currency: USD, status: live}
`)
	if got := checksum([]string{samePrices}); got != base {
		t.Errorf("another catalog with the same providers changed checksum/envoy (%s, was %s): catalog edits would roll the pods", got, base)
	}
	for _, set := range [][]string{{"envoy.xffNumTrustedHops=1"}, {"envoy.port=8080"}, {"admin.expose=true"}} {
		if got := checksum(nil, set...); got == base {
			t.Errorf("%v left checksum/envoy unchanged: Envoy would keep its old bootstrap", set)
		}
	}
	if got := checksum([]string{valuesFile(t, inlineProvidersValues)}); got == base {
		t.Error("other providers left checksum/envoy unchanged: Envoy would lack their clusters")
	}
}
