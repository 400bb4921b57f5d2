// Package tests checks the cpen-router Helm chart without a cluster: Helm (pinned, built from the
// Go module proxy) renders it, and every rendered object is decoded strictly into its Go type and
// checked the way Kubernetes, Envoy and the sidecar itself would check it.
package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// The release every test renders.
const (
	releaseName      = "rel"
	releaseNamespace = "llm"
	releaseFullname  = releaseName + "-cpen-router"
	// The Kubernetes version Helm renders for. A Helm built with go run reports 1.20, below the
	// chart's kubeVersion; released Helm binaries report their own client version instead.
	kubeVersion = "1.33.0"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../cpen-router"

// helmVersion names one of the two pinned Helm releases the chart must work with.
type helmVersion string

const (
	helm3 helmVersion = "helm.sh/helm/v3/cmd/helm@v3.22.0"
	helm4 helmVersion = "helm.sh/helm/v4/cmd/helm@v4.3.1"
)

// String is the short name used in test names and messages.
func (v helmVersion) String() string {
	if v == helm3 {
		return "helm3"
	}
	return "helm4"
}

// toolDir holds this test process's Helm binaries and Helm's own cache and config directories.
// TestMain removes it when the tests end.
func toolDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("cpen-chart-tests-%d", os.Getpid()))
}

// helm3LDFlags stamp the Kubernetes version Helm 3's release builds carry (that of their
// k8s.io/client-go, 1.37 for v3.22); a plain go run build would claim 1.20. Helm 4 reads it from its
// build information by itself.
const helm3LDFlags = "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 " +
	"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"

// helmBinaries builds both Helm releases once per test process: go run with -exec cp copies the
// binary it built (cached by the Go build cache after the first run) out of its temporary home.
var helmBinaries = sync.OnceValues(func() (map[helmVersion]string, error) {
	dir := toolDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := map[helmVersion]string{}
	for _, v := range []helmVersion{helm3, helm4} {
		bin := filepath.Join(dir, v.String())
		args := []string{"run", "-exec", "cp"}
		if v == helm3 {
			args = append(args, "-ldflags", helm3LDFlags)
		}
		// From an empty build cache this compiles all of Helm: minutes, not seconds.
		fmt.Fprintf(os.Stderr, "charts/tests: building %s\n", v)
		cmd := exec.Command("go", append(args, string(v), bin)...)
		// Outside this module: go run of a versioned package ignores go.mod, and the Helm module's
		// own requirements must not mix with the test module's.
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", v, err, stderr.String())
		}
		out[v] = bin
	}
	return out, nil
})

// helmEnv keeps Helm's cache, config and data inside toolDir, away from the user's.
func helmEnv() []string {
	dir := toolDir()
	env := os.Environ()
	for _, kv := range [][2]string{
		{"HELM_CACHE_HOME", "cache"}, {"HELM_CONFIG_HOME", "config"}, {"HELM_DATA_HOME", "data"},
	} {
		env = append(env, kv[0]+"="+filepath.Join(dir, kv[1]))
	}
	return env
}

// runHelm runs one Helm command and returns its stdout and stderr.
func runHelm(t *testing.T, v helmVersion, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bins, err := helmBinaries()
	if err != nil {
		t.Fatalf("helm: %v", err)
	}
	cmd := exec.Command(bins[v], args...)
	cmd.Env = helmEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// templateArgs is helm template for the test release with values files and --set overrides.
func templateArgs(valuesFiles []string, set []string) []string {
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace, "--kube-version", kubeVersion}
	for _, f := range valuesFiles {
		args = append(args, "-f", f)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

// renderedObject is one document of helm template's output, as JSON.
type renderedObject struct {
	APIVersion, Kind, Name, Namespace string
	JSON                              []byte
}

// key is "apiVersion/Kind", the key of the decoder tables.
func (o renderedObject) key() string { return o.APIVersion + "/" + o.Kind }

// render renders the chart with Helm 3 and the given values files (paths relative to this package).
func render(t *testing.T, valuesFiles ...string) []renderedObject {
	t.Helper()
	return renderWith(t, helm3, valuesFiles)
}

// renderSet renders with values files and --set overrides.
func renderSet(t *testing.T, valuesFiles []string, set ...string) []renderedObject {
	t.Helper()
	return renderWith(t, helm3, valuesFiles, set...)
}

func renderWith(t *testing.T, v helmVersion, valuesFiles []string, set ...string) []renderedObject {
	t.Helper()
	out, errOut, err := runHelm(t, v, templateArgs(valuesFiles, set)...)
	if err != nil {
		t.Fatalf("%s template %v %v: %v\n%s", v, valuesFiles, set, err, errOut)
	}
	return splitDocuments(t, out)
}

// renderError renders values the chart must refuse and returns Helm's error output.
func renderError(t *testing.T, v helmVersion, valuesFiles []string, set ...string) string {
	t.Helper()
	out, errOut, err := runHelm(t, v, templateArgs(valuesFiles, set)...)
	if err == nil {
		t.Fatalf("%s template %v %v succeeded, want a refusal; output:\n%s", v, valuesFiles, set, out)
	}
	return errOut
}

// valuesFile writes a values document for one test and returns its path. The name is not derived
// from the test's (as t.TempDir's is): Helm splits -f arguments at commas.
func valuesFile(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp("", "cpen-values-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// splitDocuments turns helm template's multi-document YAML into objects; empty documents (a
// template that rendered nothing) are dropped, anything else that is not a Kubernetes object fails.
func splitDocuments(t *testing.T, out string) []renderedObject {
	t.Helper()
	var objs []renderedObject
	for _, doc := range strings.Split("\n"+out, "\n---") {
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
		}
		if string(js) == "null" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			t.Fatalf("rendered document: %v\n%s", err, doc)
		}
		if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
			t.Fatalf("rendered document lacks apiVersion, kind or name:\n%s", doc)
		}
		objs = append(objs, renderedObject{head.APIVersion, head.Kind, head.Metadata.Name, head.Metadata.Namespace, js})
	}
	return objs
}

// objectsOfKind returns the objects whose key is "apiVersion/Kind".
func objectsOfKind(objs []renderedObject, key string) []renderedObject {
	var out []renderedObject
	for _, o := range objs {
		if o.key() == key {
			out = append(out, o)
		}
	}
	return out
}

// only returns the one object of a kind, failing when there are none or several.
func only(t *testing.T, objs []renderedObject, key string) renderedObject {
	t.Helper()
	found := objectsOfKind(objs, key)
	if len(found) != 1 {
		t.Fatalf("%d %s rendered, want 1", len(found), key)
	}
	return found[0]
}

// named returns the object of a kind with a name.
func named(t *testing.T, objs []renderedObject, key, name string) renderedObject {
	t.Helper()
	for _, o := range objectsOfKind(objs, key) {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no %s named %q rendered", key, name)
	return renderedObject{}
}

// decodeStrict decodes a rendered object into its Go type; a field the type does not have fails,
// as it would with the API server's strict field validation.
func decodeStrict(t *testing.T, o renderedObject, into any) {
	t.Helper()
	if err := strictJSON(o.JSON, into); err != nil {
		t.Fatalf("%s %s: strict decode into %T: %v", o.key(), o.Name, into, err)
	}
}

// strictJSON decodes one JSON value with unknown fields refused and nothing after it.
func strictJSON(js []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the object")
	}
	return nil
}

// kindCounts is "apiVersion/Kind" -> how many objects of it were rendered.
func kindCounts(objs []renderedObject) map[string]int {
	out := map[string]int{}
	for _, o := range objs {
		out[o.key()]++
	}
	return out
}

// jsonEqual compares two values by their JSON encoding.
func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
