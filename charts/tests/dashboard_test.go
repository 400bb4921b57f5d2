package tests

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const (
	dashboardFile = chartDir + "/dashboards/cpen-router.json"
	dashboardKey  = "cpen-router.json"
	dashboardName = releaseFullname + "-dashboard"
)

// dashboardConfigMap decodes the rendered dashboard ConfigMap strictly and checks what every
// rendering of it shares: the chart's labels, one key holding the file byte for byte, nothing else.
func dashboardConfigMap(t *testing.T, objs []renderedObject) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	decodeStrict(t, named(t, objs, "v1/ConfigMap", dashboardName), &cm)
	want, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(want) {
		t.Fatalf("%s is not JSON", dashboardFile)
	}
	if len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
		t.Errorf("data keys %v, binaryData keys %v; want only %s", slices.Sorted(maps.Keys(cm.Data)), len(cm.BinaryData), dashboardKey)
	}
	if got, ok := cm.Data[dashboardKey]; !ok || got != string(want) {
		t.Errorf("data[%s] is not %s byte for byte (%d bytes, want %d)", dashboardKey, dashboardFile, len(got), len(want))
	}
	for k, v := range map[string]string{
		"app.kubernetes.io/name":      "cpen-router",
		"app.kubernetes.io/instance":  releaseName,
		"app.kubernetes.io/part-of":   "cpen-router",
		"app.kubernetes.io/component": "dashboard",
	} {
		if cm.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, cm.Labels[k], v, cm.Labels)
		}
	}
	return &cm
}

// TestDashboardConfigMap: off by default; on, a ConfigMap with the dashboard file byte for byte and
// the label Grafana's dashboard sidecar watches (kube-prometheus-stack's by default, or the one the
// values name), and nothing else of the rendering changes. Helm 4 renders the same.
func TestDashboardConfigMap(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		for _, o := range renderSet(t, nil) {
			var meta struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(o.JSON, &meta); err != nil {
				t.Fatal(err)
			}
			if _, ok := meta.Metadata.Labels["grafana_dashboard"]; ok || o.Name == dashboardName {
				t.Errorf("%s %s rendered without dashboards.enabled", o.key(), o.Name)
			}
		}
	})

	t.Run("enabled", func(t *testing.T) {
		t.Parallel()
		objs := renderSet(t, nil, "dashboards.enabled=true")
		decodeAll(t, objs, coreKinds())
		cm := dashboardConfigMap(t, objs)
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("labels %v, want grafana_dashboard: \"1\"", cm.Labels)
		}
		if len(cm.Annotations) != 0 {
			t.Errorf("annotations %v, want none", cm.Annotations)
		}

		var rest []renderedObject
		for _, o := range objs {
			if o.Name != dashboardName {
				rest = append(rest, o)
			}
		}
		if diff := sameObjects(rest, renderSet(t, nil)); diff != "" {
			t.Errorf("dashboards.enabled changes more than its ConfigMap: %s", diff)
		}
		if diff := sameObjects(objs, renderWith(t, helm4, nil, "dashboards.enabled=true")); diff != "" {
			t.Errorf("Helm 4 renders other objects than Helm 3: %s", diff)
		}
	})

	t.Run("own label and annotations", func(t *testing.T) {
		t.Parallel()
		file := valuesFile(t, "dashboards:\n  enabled: true\n  label: dashboards.example.com/grafana\n  labelValue: cpen\n"+
			"  annotations:\n    grafana_folder: LLM\n")
		cm := dashboardConfigMap(t, render(t, file))
		if cm.Labels["dashboards.example.com/grafana"] != "cpen" {
			t.Errorf("labels %v, want dashboards.example.com/grafana: cpen", cm.Labels)
		}
		if _, ok := cm.Labels["grafana_dashboard"]; ok {
			t.Errorf("labels %v: the default label beside the one chosen", cm.Labels)
		}
		if !maps.Equal(cm.Annotations, map[string]string{"grafana_folder": "LLM"}) {
			t.Errorf("annotations %v, want grafana_folder: LLM", cm.Annotations)
		}
	})

	t.Run("label value given as a number", func(t *testing.T) {
		t.Parallel()
		// --set reads 2 as a number; the label value is its digits.
		cm := dashboardConfigMap(t, renderSet(t, nil, "dashboards.enabled=true", "dashboards.labelValue=2"))
		if cm.Labels["grafana_dashboard"] != "2" {
			t.Errorf("labels %v, want grafana_dashboard: \"2\"", cm.Labels)
		}
	})
}

// TestDashboardLint: helm lint --strict passes with the dashboard on, under both Helm releases.
func TestDashboardLint(t *testing.T) {
	file := valuesFile(t, "dashboards:\n  enabled: true\n  annotations:\n    grafana_folder: LLM\n")
	for _, v := range []helmVersion{helm3, helm4} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			out, errOut, err := runHelm(t, v, "lint", chartDir, "--strict", "--kube-version", kubeVersion, "-f", file)
			if err != nil {
				t.Fatalf("%s lint: %v\n%s%s", v, err, out, errOut)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") ||
				strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("%s lint:\n%s", v, out)
			}
		})
	}
}

// TestDashboardValuesRefused: a label Kubernetes would refuse, or one that would replace a label of
// the chart's own, fails at helm template with the schema's message, under both Helm releases.
func TestDashboardValuesRefused(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   string
	}{
		{"misspelt value", "dashboards: {enable: true}",
			schemaError + "- at '/dashboards': additional properties 'enable' not allowed"},
		{"label key with a space", "dashboards: {enabled: true, label: grafana dashboard}",
			schemaError + "- at '/dashboards/label': 'grafana dashboard' does not match pattern " +
				`'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'`},
		{"label of the chart's own", "dashboards: {enabled: true, label: app.kubernetes.io/component}",
			schemaError + "- at '/dashboards/label': 'not' failed"},
		{"label value with a space", `dashboards: {enabled: true, labelValue: "a b"}`,
			schemaError + "- at '/dashboards/labelValue': 'a b' does not match pattern '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$'"},
		{"negative label value", "dashboards: {enabled: true, labelValue: -1}",
			schemaError + "- at '/dashboards/labelValue': minimum: got -1, want 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := valuesFile(t, tt.values+"\n")
			for _, v := range []helmVersion{helm3, helm4} {
				if got := helmMessage(renderError(t, v, []string{file})); got != tt.want {
					t.Errorf("%s says\n%s\nwant\n%s", v, got, tt.want)
				}
			}
		})
	}
}
