package tests

import (
	"strings"
	"testing"
)

// notes renders NOTES.txt: helm install --dry-run=client (Helm 4 needs no cluster for it) prints
// them after the manifests.
func notes(t *testing.T, valuesFiles []string, set ...string) string {
	t.Helper()
	args := []string{"install", releaseName, chartDir, "--namespace", releaseNamespace, "--dry-run=client"}
	for _, f := range valuesFiles {
		args = append(args, "-f", f)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, errOut, err := runHelm(t, helm4, args...)
	if err != nil {
		t.Fatalf("helm install --dry-run=client: %v\n%s", err, errOut)
	}
	_, text, ok := strings.Cut(out, "\nNOTES:\n")
	if !ok {
		t.Fatalf("no NOTES in:\n%s", out)
	}
	return text
}

// TestNotes: the notes give the request to try and warn about trial keys, keyless providers and
// replicas without shared state, and only when those apply.
func TestNotes(t *testing.T) {
	const (
		curlGateway  = "  kubectl -n llm port-forward svc/rel-cpen-router 10000:80 &\n  curl -s localhost:10000/v1/chat/completions \\\n    -H 'Authorization: Bearer cpen_live_demo_4f1c2b7e9a3d5c8b'"
		extprocAddr  = "Point your Envoy's ext_proc filter at rel-cpen-router.llm.svc:50051"
		trialSecret  = "WARNING: the provider keys are in a Secret the chart created from your values"
		noKeys       = "WARNING: no provider keys (providerKeys.existingSecret is empty)"
		noRedis3     = "WARNING: up to 3 replicas without Redis: each replica keeps its own rate-limit windows"
		noRedis12    = "WARNING: up to 12 replicas without Redis"
		bundledRedis = "The bundled Redis (rel-cpen-router-redis:6379) is a single pod for trials, without a password."
		redisUnread  = "NOTE: cpen-extproc reads only --redis-addr today."
		ownKey       = "Bearer <your cpen_live_ key>"
		viaGateway   = "  curl -s https://llm.example.com/v1/chat/completions"
	)
	tests := []struct {
		name     string
		files    []string
		set      []string
		want     []string
		wantNone []string
	}{
		{"defaults", nil, nil, []string{curlGateway, noKeys}, []string{trialSecret, noRedis3, extprocAddr, redisUnread}},
		{"three replicas without Redis", []string{"testdata/gateway.yaml"}, []string{"replicaCount=3"},
			[]string{noRedis3}, []string{noKeys, trialSecret}},
		{"three replicas with Redis", []string{"testdata/redis-external.yaml"}, nil,
			nil, []string{"replicas without Redis", noKeys, redisUnread}},
		{"trial keys and bundled Redis", []string{"testdata/redis-bundled.yaml"}, nil,
			[]string{trialSecret, bundledRedis}, []string{noKeys, "replicas without Redis", redisUnread}},
		{"extproc", []string{"testdata/extproc.yaml"}, nil,
			[]string{extprocAddr}, []string{"curl", "demo key", noKeys}},
		{"own catalog", []string{"testdata/extproc.yaml"}, []string{"mode=gateway"},
			[]string{ownKey}, []string{"demo key", extprocAddr}},
		{"autoscaled without Redis", []string{"testdata/hpa-pdb-monitoring-networkpolicy.yaml"}, []string{"redis.address="},
			[]string{noRedis12}, nil},
		{"attached to Envoy Gateway", []string{"testdata/extproc-envoygateway.yaml"}, nil,
			[]string{extprocAddr, viaGateway}, []string{curlGateway}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text := notes(t, tt.files, tt.set...)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("notes lack %q:\n%s", w, text)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(text, w) {
					t.Errorf("notes hold %q:\n%s", w, text)
				}
			}
		})
	}
}
