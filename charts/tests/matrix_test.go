package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/cpen/router/config"
	"github.com/cpen/router/envoy"
)

// matrixCase is one values file of testdata/ and the objects of the chart's own kinds it renders,
// counted exactly. Files with an attachment also render Envoy Gateway or Istio kinds, whose counts
// and wiring their own tests check; here they are decoded strictly like every other object.
type matrixCase struct {
	file   string
	kinds  map[string]int
	attach bool
}

func matrixCases() []matrixCase {
	const (
		cm, svc, sa, secret, pvc = "v1/ConfigMap", "v1/Service", "v1/ServiceAccount", "v1/Secret", "v1/PersistentVolumeClaim"
		deploy, hpa, pdb         = "apps/v1/Deployment", "autoscaling/v2/HorizontalPodAutoscaler", "policy/v1/PodDisruptionBudget"
		netpol, monitor          = "networking.k8s.io/v1/NetworkPolicy", "monitoring.coreos.com/v1/ServiceMonitor"
	)
	return []matrixCase{
		{file: "gateway.yaml", kinds: map[string]int{sa: 1, cm: 2, svc: 1, deploy: 1}},
		{file: "extproc.yaml", kinds: map[string]int{sa: 1, cm: 1, svc: 1, deploy: 1}},
		{file: "redis-external.yaml", kinds: map[string]int{sa: 1, cm: 2, svc: 1, deploy: 1}},
		{file: "redis-bundled.yaml", kinds: map[string]int{sa: 1, cm: 2, svc: 2, deploy: 2, secret: 1, pvc: 1}},
		{file: "hpa-pdb-monitoring-networkpolicy.yaml", kinds: map[string]int{
			sa: 1, cm: 1, svc: 2, deploy: 1, hpa: 1, pdb: 1, monitor: 1, netpol: 1,
		}},
		{file: "extproc-envoygateway.yaml", kinds: map[string]int{sa: 1, cm: 1, svc: 1, deploy: 1}, attach: true},
		{file: "extproc-istio.yaml", kinds: map[string]int{sa: 1, cm: 1, svc: 1, deploy: 1}, attach: true},
	}
}

// TestMatrixCoversTestdata keeps the matrix and testdata/ the same set of files, so a values file
// added there is checked.
func TestMatrixCoversTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	for _, c := range matrixCases() {
		want = append(want, c.file)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("testdata values files %v, matrix %v", got, want)
	}
}

// TestMatrix renders every values file of the matrix with Helm 3 and checks each rendered object:
// decoded strictly into its Go type (an unknown kind or field fails), every pod template under the
// restricted Pod Security Standard, every Envoy bootstrap loaded and validated as Envoy would, every
// catalog loaded by the sidecar's own loader. Helm 4 must render the very same objects.
func TestMatrix(t *testing.T) {
	for _, c := range matrixCases() {
		t.Run(strings.TrimSuffix(c.file, ".yaml"), func(t *testing.T) {
			t.Parallel()
			file := filepath.Join("testdata", c.file)
			objs := render(t, file)
			decoded := decodeAll(t, objs, allKinds())

			counts := kindCounts(objs)
			core := coreKinds()
			for key, n := range counts {
				if _, ok := core[key]; ok {
					if c.kinds[key] != n {
						t.Errorf("%s: %d rendered, want %d", key, n, c.kinds[key])
					}
				} else if !c.attach {
					t.Errorf("%s: %d rendered, want none", key, n)
				}
			}
			for key, n := range c.kinds {
				if counts[key] == 0 {
					t.Errorf("%s: none rendered, want %d", key, n)
				}
			}

			pods := podTemplates(decoded)
			if len(pods) != c.kinds["apps/v1/Deployment"] {
				t.Errorf("%d pod templates, want one per Deployment (%d)", len(pods), c.kinds["apps/v1/Deployment"])
			}
			for name, pod := range pods {
				checkRestricted(t, name, pod)
			}

			catalogs, bootstraps := loadConfigMaps(t, decoded)
			if catalogs != 1 {
				t.Errorf("%d catalogs loaded, want 1", catalogs)
			}
			wantBootstraps := 0
			if deploymentMode(t, objs) == "gateway" {
				wantBootstraps = 1
			}
			if bootstraps != wantBootstraps {
				t.Errorf("%d Envoy bootstraps loaded, want %d", bootstraps, wantBootstraps)
			}

			if diff := sameObjects(objs, renderWith(t, helm4, []string{file})); diff != "" {
				t.Errorf("Helm 4 renders other objects than Helm 3: %s", diff)
			}
			t.Logf("%s: %s; %d pod templates restricted-PSS clean, %d catalog(s), %d bootstrap(s) valid",
				c.file, summary(counts), len(pods), catalogs, bootstraps)
		})
	}
}

// loadConfigMaps loads every catalog (key catalog.yaml) with config.Load and every Envoy bootstrap
// (key envoy.yaml) with envoy.Load, failing on the first that does not load, and counts them.
func loadConfigMaps(t *testing.T, decoded []any) (catalogs, bootstraps int) {
	t.Helper()
	for _, d := range decoded {
		cm, ok := d.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		for key, text := range cm.Data {
			switch key {
			case "catalog.yaml":
				if _, err := config.Load([]byte(text)); err != nil {
					t.Errorf("ConfigMap %s: catalog does not load: %v", cm.Name, err)
				}
				catalogs++
			case "envoy.yaml":
				if _, err := envoy.Load([]byte(text)); err != nil {
					t.Errorf("ConfigMap %s: Envoy bootstrap does not load: %v", cm.Name, err)
				}
				bootstraps++
			default:
				t.Errorf("ConfigMap %s: unexpected key %q", cm.Name, key)
			}
		}
	}
	return catalogs, bootstraps
}

// deploymentMode tells the router Deployment's mode by its containers: "gateway" runs Envoy.
func deploymentMode(t *testing.T, objs []renderedObject) string {
	t.Helper()
	pod := routerPod(t, objs)
	for _, c := range pod.Spec.Containers {
		if c.Name == "envoy" {
			return "gateway"
		}
	}
	return "extproc"
}

// sameObjects compares two renderings object by object (as JSON values, so formatting does not
// count) and describes the first difference.
func sameObjects(a, b []renderedObject) string {
	index := func(objs []renderedObject) map[string]any {
		out := map[string]any{}
		for _, o := range objs {
			var v any
			if err := json.Unmarshal(o.JSON, &v); err != nil {
				v = string(o.JSON)
			}
			out[o.key()+" "+o.Name] = v
		}
		return out
	}
	ia, ib := index(a), index(b)
	for _, k := range slices.Sorted(maps.Keys(ia)) {
		vb, ok := ib[k]
		if !ok {
			return k + " missing"
		}
		ja, _ := json.Marshal(ia[k])
		jb, _ := json.Marshal(vb)
		if !bytes.Equal(ja, jb) {
			return fmt.Sprintf("%s differs:\n%s\n%s", k, ja, jb)
		}
	}
	for k := range ib {
		if _, ok := ia[k]; !ok {
			return k + " extra"
		}
	}
	return ""
}

// summary lists the rendered kinds, e.g. "apps/v1/Deployment x1, v1/Service x2".
func summary(counts map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s x%d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}
