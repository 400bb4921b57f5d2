package tests

import (
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// redisArg is the sidecar's --redis-addr, or "" without one.
func redisArg(t *testing.T, objs []renderedObject) string {
	t.Helper()
	for _, a := range container(t, routerPod(t, objs).Spec, "cpen-extproc").Args {
		if v, ok := strings.CutPrefix(a, "--redis-addr="); ok {
			return v
		}
	}
	return ""
}

// TestRedisNone: by default state stays in the process and nothing about Redis is rendered.
func TestRedisNone(t *testing.T) {
	objs := render(t)
	if got := redisArg(t, objs); got != "" {
		t.Errorf("--redis-addr=%s, want none", got)
	}
	for _, e := range container(t, routerPod(t, objs).Spec, "cpen-extproc").Env {
		t.Errorf("env %s rendered without Redis or keys", e.Name)
	}
}

// TestRedisExternal: the team's Redis address goes to --redis-addr, its password to
// CPEN_REDIS_PASSWORD from the named Secret, and TLS to CPEN_REDIS_TLS.
func TestRedisExternal(t *testing.T) {
	objs := render(t, "testdata/redis-external.yaml")
	if got := redisArg(t, objs); got != "redis-master.cache.svc.cluster.local:6379" {
		t.Errorf("--redis-addr=%s, want redis-master.cache.svc.cluster.local:6379", got)
	}
	d := routerDeployment(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range container(t, d.Spec.Template.Spec, "cpen-extproc").Env {
		env[e.Name] = e
	}
	pw := env["CPEN_REDIS_PASSWORD"]
	if pw.Value != "" || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil ||
		pw.ValueFrom.SecretKeyRef.Name != "redis-auth" || pw.ValueFrom.SecretKeyRef.Key != "password" ||
		pw.ValueFrom.SecretKeyRef.Optional != nil {
		t.Errorf("CPEN_REDIS_PASSWORD %+v, want a required secretKeyRef redis-auth/password", pw)
	}
	if tls := env["CPEN_REDIS_TLS"]; tls.Value != "true" || tls.ValueFrom != nil {
		t.Errorf("CPEN_REDIS_TLS %+v, want \"true\"", tls)
	}
	if n := len(objectsOfKind(objs, "apps/v1/Deployment")); n != 1 {
		t.Errorf("%d Deployments, want only the router's (no bundled Redis)", n)
	}
}

// TestRedisBundled: redis.enabled runs one Redis pod (Recreate, AOF with fsync every second, on a
// claim when persistence is on) behind a Service the sidecar is pointed at.
func TestRedisBundled(t *testing.T) {
	objs := render(t, "testdata/redis-bundled.yaml")
	name := releaseFullname + "-redis"
	if got := redisArg(t, objs); got != name+":6379" {
		t.Errorf("--redis-addr=%s, want %s:6379", got, name)
	}
	var d appsv1.Deployment
	decodeStrict(t, named(t, objs, "apps/v1/Deployment", name), &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Redis replicas %v strategy %q, want 1 and Recreate", d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template
	if pod.Labels["app.kubernetes.io/component"] != "redis" || !maps.Equal(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("Redis pod labels %v selector %v", pod.Labels, d.Spec.Selector.MatchLabels)
	}
	c := container(t, pod.Spec, "redis")
	if c.Image != "redis:7.4.2-alpine" || !slices.Equal(c.Command, []string{"redis-server"}) {
		t.Errorf("Redis image %q command %q", c.Image, c.Command)
	}
	wantArgs := []string{"--appendonly", "yes", "--appendfsync", "everysec", "--dir", "/data", "--protected-mode", "no", "--port", "6379"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("Redis args %q, want %q", c.Args, wantArgs)
	}
	if got := mountsOf(c); len(got) != 1 || got["data"] != "/data" {
		t.Errorf("Redis mounts %v, want data at /data", got)
	}
	if v := pod.Spec.Volumes; len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != name {
		t.Errorf("Redis volumes %+v, want the claim %s", v, name)
	}

	var pvc corev1.PersistentVolumeClaim
	decodeStrict(t, only(t, objs, "v1/PersistentVolumeClaim"), &pvc)
	if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse("2Gi")) != 0 ||
		pvc.Name != name || pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("claim %s requests %s annotations %v, want %s, 2Gi, kept on uninstall", pvc.Name, got.String(), pvc.Annotations, name)
	}

	var svc corev1.Service
	decodeStrict(t, named(t, objs, "v1/Service", name), &svc)
	want := []corev1.ServicePort{{Name: "redis", Port: 6379, TargetPort: intstr.FromString("redis"), Protocol: corev1.ProtocolTCP}}
	if !slices.EqualFunc(svc.Spec.Ports, want, servicePortEqual) || !maps.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Redis Service ports %+v selector %v", svc.Spec.Ports, svc.Spec.Selector)
	}

	// Without persistence the AOF lives in an emptyDir and no claim is rendered.
	objs = renderSet(t, []string{"testdata/redis-bundled.yaml"}, "redis.persistence.enabled=false")
	decodeStrict(t, named(t, objs, "apps/v1/Deployment", name), &d)
	if v := d.Spec.Template.Spec.Volumes; len(v) != 1 || v[0].EmptyDir == nil {
		t.Errorf("Redis volumes %+v, want an emptyDir", v)
	}
	if n := len(objectsOfKind(objs, "v1/PersistentVolumeClaim")); n != 0 {
		t.Errorf("%d claims without persistence", n)
	}
}

// TestRedisNetworkPolicy: with network policies on, only the release's router pods reach the
// bundled Redis, which has no password.
func TestRedisNetworkPolicy(t *testing.T) {
	objs := renderSet(t, []string{"testdata/redis-bundled.yaml"}, "networkPolicy.enabled=true")
	var np networkingv1.NetworkPolicy
	decodeStrict(t, named(t, objs, "networking.k8s.io/v1/NetworkPolicy", releaseFullname+"-redis"), &np)
	if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != "redis" || len(np.Spec.Ingress) != 1 {
		t.Fatalf("Redis policy %+v", np.Spec)
	}
	in := np.Spec.Ingress[0]
	if len(in.From) != 1 || in.From[0].PodSelector == nil || in.From[0].PodSelector.MatchLabels["app.kubernetes.io/component"] != "router" ||
		in.From[0].NamespaceSelector != nil {
		t.Errorf("Redis policy admits %+v, want the router pods of the release's namespace", in.From)
	}
	if len(in.Ports) != 1 || in.Ports[0].Port == nil || *in.Ports[0].Port != intstr.FromString("redis") {
		t.Errorf("Redis policy ports %+v, want redis", in.Ports)
	}
}
