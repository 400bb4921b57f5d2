package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/cpen/router/config"
)

// The sidecar's default catalog and the chart's copy of it.
const (
	projectCatalog = "../../config/default_catalog.yaml"
	chartCatalog   = "../cpen-router/files/catalog.yaml"
)

// TestChartCatalogIsDefaultCatalog: the chart ships config/default_catalog.yaml byte for byte.
func TestChartCatalogIsDefaultCatalog(t *testing.T) {
	want, err := os.ReadFile(projectCatalog)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(chartCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s; copy it again (cp config/default_catalog.yaml charts/cpen-router/files/catalog.yaml)", chartCatalog, projectCatalog)
	}
}

// renderedCatalog is the text of the chart's catalog ConfigMap.
func renderedCatalog(t *testing.T, objs []renderedObject) string {
	t.Helper()
	var cm corev1.ConfigMap
	decodeStrict(t, named(t, objs, "v1/ConfigMap", releaseFullname+"-catalog"), &cm)
	text, ok := cm.Data["catalog.yaml"]
	if !ok || len(cm.Data) != 1 {
		t.Fatalf("catalog ConfigMap keys %v, want only catalog.yaml", cm.Data)
	}
	return text
}

// TestCatalogSources: without catalog values the ConfigMap holds the default catalog's text
// (comments too); with catalog.inline it holds that object; with catalog.existingConfigMap the chart
// renders none and mounts the named one, reading the named key.
func TestCatalogSources(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		want, err := os.ReadFile(chartCatalog)
		if err != nil {
			t.Fatal(err)
		}
		if got := renderedCatalog(t, render(t)); got != strings.TrimRight(string(want), "\n") {
			t.Errorf("catalog ConfigMap is not files/catalog.yaml:\n%s", got)
		}
	})
	t.Run("inline", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join("testdata", "extproc.yaml")
		text := renderedCatalog(t, render(t, file))
		var values struct {
			Catalog struct {
				Inline map[string]any `json:"inline"`
			} `json:"catalog"`
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &values); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := yaml.Unmarshal([]byte(text), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, values.Catalog.Inline) {
			t.Errorf("catalog ConfigMap holds\n%v\nwant catalog.inline\n%v", got, values.Catalog.Inline)
		}
		c, err := config.Load([]byte(text))
		if err != nil {
			t.Fatalf("inline catalog does not load: %v", err)
		}
		if len(c.Providers) != 2 || c.Providers[1].AuthHeader != "x-api-key" || c.Providers[1].AuthScheme != "" {
			t.Errorf("loaded providers %+v, want openai and anthropic (x-api-key, bare key)", c.Providers)
		}
	})
	t.Run("existing ConfigMap", func(t *testing.T) {
		t.Parallel()
		objs := renderSet(t, nil, "mode=extproc", "catalog.existingConfigMap=team-catalog", "catalog.existingConfigMapKey=llm.yaml")
		for _, o := range objectsOfKind(objs, "v1/ConfigMap") {
			t.Errorf("ConfigMap %s rendered; the catalog is the team's own", o.Name)
		}
		spec := routerPod(t, objs).Spec
		if v := spec.Volumes[0]; v.Name != "catalog" || v.ConfigMap == nil || v.ConfigMap.Name != "team-catalog" {
			t.Errorf("catalog volume %+v, want ConfigMap team-catalog", v)
		}
		c := container(t, spec, "cpen-extproc")
		if !slices.Contains(c.Args, "--catalog=/etc/cpen/catalog/llm.yaml") {
			t.Errorf("args %q, want --catalog=/etc/cpen/catalog/llm.yaml", c.Args)
		}
	})
}

// keyEnv is one provider-key variable as the pod gets it.
type keyEnv struct {
	name, secret, key string
	optional          bool
}

func keyEnvs(t *testing.T, c corev1.Container) []keyEnv {
	t.Helper()
	var out []keyEnv
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || strings.HasPrefix(e.Name, "CPEN_") {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		out = append(out, keyEnv{e.Name, ref.Name, ref.Key, ref.Optional != nil && *ref.Optional})
	}
	return out
}

// TestProviderKeys: each provider's api_key_env comes from the provider-keys Secret by a
// secretKeyRef of the same name; without a Secret the pod gets no key variables.
func TestProviderKeys(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		set   []string
		want  []keyEnv
	}{
		{"no Secret", nil, nil, nil},
		{"existing Secret, default catalog", []string{"testdata/gateway.yaml"}, nil, []keyEnv{
			{"OPENAI_API_KEY", "llm-provider-keys", "OPENAI_API_KEY", true},
			{"GEMINI_API_KEY", "llm-provider-keys", "GEMINI_API_KEY", true},
			{"MISTRAL_API_KEY", "llm-provider-keys", "MISTRAL_API_KEY", true},
		}},
		{"existing Secret, inline catalog, every key required", []string{"testdata/extproc.yaml"}, nil, []keyEnv{
			{"OPENAI_API_KEY", "llm-provider-keys", "OPENAI_API_KEY", false},
			{"ANTHROPIC_API_KEY", "llm-provider-keys", "ANTHROPIC_API_KEY", false},
		}},
		{"Secret from values", []string{"testdata/redis-bundled.yaml"}, nil, []keyEnv{
			{"OPENAI_API_KEY", releaseFullname + "-provider-keys", "OPENAI_API_KEY", true},
			{"GEMINI_API_KEY", releaseFullname + "-provider-keys", "GEMINI_API_KEY", true},
			{"MISTRAL_API_KEY", releaseFullname + "-provider-keys", "MISTRAL_API_KEY", true},
		}},
		{"shared variable named once", []string{"inline-providers"}, []string{"providerKeys.existingSecret=k"}, []keyEnv{
			{"A_KEY", "k", "A_KEY", true}, {"B_KEY", "k", "B_KEY", true}, {"A2_KEY", "k", "A2_KEY", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := tt.files
			if slices.Equal(files, []string{"inline-providers"}) {
				files = []string{valuesFile(t, inlineProvidersValues)}
			}
			objs := renderSet(t, files, tt.set...)
			c := container(t, routerPod(t, objs).Spec, "cpen-extproc")
			if got := keyEnvs(t, c); !slices.Equal(got, tt.want) {
				t.Errorf("key variables %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestProviderKeysSecretFromValues: providerKeys.create renders a Secret holding exactly the
// values, rolls the pods when they change, and no key appears anywhere but in that Secret: not in a
// ConfigMap, not as an env literal, not in an annotation.
func TestProviderKeysSecretFromValues(t *testing.T) {
	file := filepath.Join("testdata", "redis-bundled.yaml")
	objs := render(t, file)
	var s corev1.Secret
	decodeStrict(t, only(t, objs, "v1/Secret"), &s)
	want := map[string]string{"OPENAI_API_KEY": "sk-test-openai", "GEMINI_API_KEY": "test-gemini"}
	if s.Name != releaseFullname+"-provider-keys" || s.Type != corev1.SecretTypeOpaque || !reflect.DeepEqual(s.StringData, want) {
		t.Errorf("Secret %s type %s stringData %v, want %s-provider-keys, Opaque, %v", s.Name, s.Type, s.StringData, releaseFullname, want)
	}
	for _, o := range objs {
		if o.Kind == "Secret" {
			continue
		}
		for _, key := range want {
			if bytes.Contains(o.JSON, []byte(key)) {
				t.Errorf("%s %s holds a provider key", o.key(), o.Name)
			}
		}
	}
	sum := routerPod(t, objs).Annotations["checksum/provider-keys"]
	other := routerPod(t, renderSet(t, []string{file}, "providerKeys.values.OPENAI_API_KEY=sk-rotated")).Annotations["checksum/provider-keys"]
	if len(sum) != 64 || sum == other {
		t.Errorf("checksum/provider-keys %q then %q: new keys must roll the pods", sum, other)
	}
}
