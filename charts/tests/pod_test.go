package tests

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// routerDeployment decodes the release's router Deployment.
func routerDeployment(t *testing.T, objs []renderedObject) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	decodeStrict(t, named(t, objs, "apps/v1/Deployment", releaseFullname), &d)
	return &d
}

// routerPod is the router Deployment's pod template.
func routerPod(t *testing.T, objs []renderedObject) corev1.PodTemplateSpec {
	t.Helper()
	return routerDeployment(t, objs).Spec.Template
}

// container finds a container by name among the init and regular containers.
func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func mountsOf(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		out[m.Name] = m.MountPath
	}
	return out
}

func httpProbe(t *testing.T, where string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: %+v, want an HTTP GET probe", where, p)
		return
	}
	if p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("admin") {
		t.Errorf("%s: GET %s on %v, want GET %s on port admin", where, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
	}
}

// TestGatewayPod: mode gateway runs cpen-extproc as a native sidecar of Envoy in one pod, the two
// joined by a Unix socket on a shared in-memory emptyDir.
func TestGatewayPod(t *testing.T) {
	objs := render(t)
	d := routerDeployment(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	spec := d.Spec.Template.Spec
	if got := containerNames(spec.InitContainers); !slices.Equal(got, []string{"cpen-extproc"}) {
		t.Fatalf("init containers %v, want [cpen-extproc]", got)
	}
	if got := containerNames(spec.Containers); !slices.Equal(got, []string{"envoy"}) {
		t.Fatalf("containers %v, want [envoy]", got)
	}
	if spec.ServiceAccountName != releaseFullname || spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("serviceAccountName %q enableServiceLinks %v, want %q and false", spec.ServiceAccountName, spec.EnableServiceLinks, releaseFullname)
	}

	side := spec.InitContainers[0]
	if side.RestartPolicy == nil || *side.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("cpen-extproc restartPolicy %v, want Always (a native sidecar)", side.RestartPolicy)
	}
	if side.Image != "ghcr.io/cpen/cpen-extproc:0.1.0" {
		t.Errorf("cpen-extproc image %q, want the chart's appVersion tag", side.Image)
	}
	wantArgs := []string{
		"--catalog=/etc/cpen/catalog/catalog.yaml",
		"--grpc-addr=unix:/run/cpen/extproc.sock",
		"--admin-addr=:9902",
		"--log-level=info",
		"--drain-delay=5s",
		"--drain-timeout=15s",
	}
	if !slices.Equal(side.Args, wantArgs) {
		t.Errorf("cpen-extproc args\n%q\nwant\n%q", side.Args, wantArgs)
	}
	if len(side.Env) != 0 {
		t.Errorf("cpen-extproc env %v, want none without a provider-keys Secret or Redis", side.Env)
	}
	if len(side.Ports) != 1 || side.Ports[0].Name != "admin" || side.Ports[0].ContainerPort != 9902 {
		t.Errorf("cpen-extproc ports %+v, want only admin 9902 (ext_proc is the socket)", side.Ports)
	}
	httpProbe(t, "cpen-extproc startupProbe", side.StartupProbe, "/healthz")
	httpProbe(t, "cpen-extproc readinessProbe", side.ReadinessProbe, "/readyz")
	httpProbe(t, "cpen-extproc livenessProbe", side.LivenessProbe, "/healthz")
	if got := mountsOf(side); got["catalog"] != "/etc/cpen/catalog" || got["socket"] != "/run/cpen" || len(got) != 2 {
		t.Errorf("cpen-extproc mounts %v, want catalog at /etc/cpen/catalog and socket at /run/cpen", got)
	}
	for _, m := range side.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath %q: the kubelet never updates a subPath mount", m.Name, m.SubPath)
		}
	}

	env := spec.Containers[0]
	if env.Image != "envoyproxy/envoy:v1.40.0" {
		t.Errorf("envoy image %q, want envoyproxy/envoy:v1.40.0 (the release of go-control-plane envoy v1.40.0)", env.Image)
	}
	if !slices.Equal(env.Command, []string{"/usr/local/bin/envoy"}) {
		t.Errorf("envoy command %q", env.Command)
	}
	wantEnvoyArgs := []string{"--config-path", "/etc/envoy/envoy.yaml", "--disable-hot-restart", "--concurrency", "2",
		"--log-level", "info", "--drain-time-s", "5", "--drain-strategy", "immediate"}
	if !slices.Equal(env.Args, wantEnvoyArgs) {
		t.Errorf("envoy args\n%q\nwant\n%q", env.Args, wantEnvoyArgs)
	}
	if len(env.Ports) != 1 || env.Ports[0].Name != "http" || env.Ports[0].ContainerPort != 10000 {
		t.Errorf("envoy ports %+v, want only http 10000 (admin stays on 127.0.0.1)", env.Ports)
	}
	if got := mountsOf(env); got["envoy-config"] != "/etc/envoy" || got["socket"] != "/run/cpen" || got["envoy-tmp"] != "/tmp" || len(got) != 3 {
		t.Errorf("envoy mounts %v", got)
	}
	if env.Lifecycle == nil || env.Lifecycle.PreStop == nil || env.Lifecycle.PreStop.Exec == nil {
		t.Fatalf("envoy has no preStop exec hook")
	}
	preStop := env.Lifecycle.PreStop.Exec.Command
	if len(preStop) != 3 || preStop[0] != "/bin/bash" || !strings.Contains(preStop[2], "POST /drain_listeners?graceful HTTP/1.1") ||
		!strings.HasSuffix(preStop[2], "; sleep 20") {
		t.Errorf("envoy preStop %q, want a POST /drain_listeners?graceful to 127.0.0.1:9901 then sleep 20 (drainDelay + drainTimeout)", preStop)
	}

	vols := map[string]corev1.VolumeSource{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v.VolumeSource
	}
	if cm := vols["catalog"].ConfigMap; cm == nil || cm.Name != releaseFullname+"-catalog" {
		t.Errorf("catalog volume %+v, want ConfigMap %s-catalog", vols["catalog"], releaseFullname)
	}
	if cm := vols["envoy-config"].ConfigMap; cm == nil || cm.Name != releaseFullname+"-envoy" {
		t.Errorf("envoy-config volume %+v, want ConfigMap %s-envoy", vols["envoy-config"], releaseFullname)
	}
	if ed := vols["socket"].EmptyDir; ed == nil || ed.Medium != corev1.StorageMediumMemory {
		t.Errorf("socket volume %+v, want an in-memory emptyDir", vols["socket"])
	}
	if len(vols) != 4 {
		t.Errorf("volumes %v, want catalog, envoy-config, socket, envoy-tmp", spec.Volumes)
	}

	// The socket Envoy dials is the one the sidecar listens on.
	if got := extProcEndpoint(t, objs); got != "pipe:/run/cpen/extproc.sock" {
		t.Errorf("Envoy's ext_proc cluster endpoint %s, want pipe:/run/cpen/extproc.sock", got)
	}

	checkTopologySpread(t, spec)
}

// checkTopologySpread: the default constraints spread the router pods over zones and nodes, each
// selecting those pods.
func checkTopologySpread(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	if len(spec.TopologySpreadConstraints) != 2 {
		t.Fatalf("topologySpreadConstraints %+v, want zone and hostname", spec.TopologySpreadConstraints)
	}
	for i, key := range []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname"} {
		c := spec.TopologySpreadConstraints[i]
		sel := map[string]string{}
		if c.LabelSelector != nil {
			sel = c.LabelSelector.MatchLabels
		}
		if c.TopologyKey != key || c.MaxSkew != 1 || c.WhenUnsatisfiable != corev1.ScheduleAnyway ||
			sel["app.kubernetes.io/instance"] != releaseName || sel["app.kubernetes.io/component"] != "router" {
			t.Errorf("topologySpreadConstraints[%d] %+v, want %s, skew 1, ScheduleAnyway, the router pods", i, c, key)
		}
	}
}

// TestExtprocPod: mode extproc runs cpen-extproc alone, its ext_proc listener on a TCP port that
// the kubelet probes with the standard gRPC health service.
func TestExtprocPod(t *testing.T) {
	objs := renderSet(t, nil, "mode=extproc")
	spec := routerPod(t, objs).Spec
	if len(spec.InitContainers) != 0 {
		t.Errorf("init containers %v, want none", containerNames(spec.InitContainers))
	}
	if got := containerNames(spec.Containers); !slices.Equal(got, []string{"cpen-extproc"}) {
		t.Fatalf("containers %v, want [cpen-extproc]", got)
	}
	c := spec.Containers[0]
	if c.RestartPolicy != nil {
		t.Errorf("restartPolicy %v on a regular container", *c.RestartPolicy)
	}
	wantArgs := []string{
		"--catalog=/etc/cpen/catalog/catalog.yaml",
		"--grpc-addr=:50051",
		"--admin-addr=:9902",
		"--log-level=info",
		"--drain-delay=5s",
		"--drain-timeout=15s",
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args\n%q\nwant\n%q", c.Args, wantArgs)
	}
	wantPorts := []corev1.ContainerPort{
		{Name: "grpc", ContainerPort: 50051, Protocol: corev1.ProtocolTCP},
		{Name: "admin", ContainerPort: 9902, Protocol: corev1.ProtocolTCP},
	}
	if !slices.Equal(c.Ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", c.Ports, wantPorts)
	}
	if p := c.ReadinessProbe; p == nil || p.GRPC == nil || p.GRPC.Port != 50051 || (p.GRPC.Service != nil && *p.GRPC.Service != "") {
		t.Errorf("readinessProbe %+v, want the native gRPC probe on 50051 (service \"\")", p)
	}
	httpProbe(t, "livenessProbe", c.LivenessProbe, "/healthz")
	if got := mountsOf(c); len(got) != 1 || got["catalog"] != "/etc/cpen/catalog" {
		t.Errorf("mounts %v, want only the catalog", got)
	}
	if len(spec.Volumes) != 1 || spec.Volumes[0].Name != "catalog" {
		t.Errorf("volumes %+v, want only the catalog", spec.Volumes)
	}
	if n := len(objectsOfKind(objs, "v1/ConfigMap")); n != 1 {
		t.Errorf("%d ConfigMaps, want only the catalog (no Envoy bootstrap)", n)
	}
}

// TestServices: mode gateway serves Envoy's listener, mode extproc the gRPC port as h2c; no Service
// reaches an admin port unless admin.expose asks for it.
func TestServices(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want map[string][]corev1.ServicePort
	}{
		{"gateway", nil, map[string][]corev1.ServicePort{
			releaseFullname: {{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		}},
		{"gateway on another port", []string{"service.port=8080", "envoy.port=18000"}, map[string][]corev1.ServicePort{
			releaseFullname: {{Name: "http", Port: 8080, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		}},
		{"extproc", []string{"mode=extproc"}, map[string][]corev1.ServicePort{
			releaseFullname: {{Name: "grpc", Port: 50051, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP, AppProtocol: new("kubernetes.io/h2c")}},
		}},
		{"gateway, admin exposed", []string{"admin.expose=true"}, map[string][]corev1.ServicePort{
			releaseFullname: {{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
			releaseFullname + "-admin": {
				{Name: "admin", Port: 9902, TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP},
				{Name: "envoy-admin", Port: 9901, TargetPort: intstr.FromString("envoy-admin"), Protocol: corev1.ProtocolTCP},
			},
		}},
		{"extproc, admin exposed", []string{"mode=extproc", "admin.expose=true"}, map[string][]corev1.ServicePort{
			releaseFullname: {{Name: "grpc", Port: 50051, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP, AppProtocol: new("kubernetes.io/h2c")}},
			releaseFullname + "-admin": {
				{Name: "admin", Port: 9902, TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			objs := renderSet(t, nil, tt.set...)
			got := map[string][]corev1.ServicePort{}
			for _, o := range objectsOfKind(objs, "v1/Service") {
				var s corev1.Service
				decodeStrict(t, o, &s)
				got[s.Name] = s.Spec.Ports
			}
			if len(got) != len(tt.want) {
				t.Errorf("Services %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				if !slices.EqualFunc(got[name], want, servicePortEqual) {
					t.Errorf("Service %s ports %+v, want %+v", name, got[name], want)
				}
			}
		})
	}
}

func servicePortEqual(a, b corev1.ServicePort) bool {
	ap, bp := "", ""
	if a.AppProtocol != nil {
		ap = *a.AppProtocol
	}
	if b.AppProtocol != nil {
		bp = *b.AppProtocol
	}
	a.AppProtocol, b.AppProtocol = nil, nil
	return a == b && ap == bp
}

// TestAdminExposeBindsEnvoyAdmin: with admin.expose Envoy's admin listens on the pod's addresses
// and its port is declared; otherwise it stays on 127.0.0.1.
func TestAdminExposeBindsEnvoyAdmin(t *testing.T) {
	for _, tt := range []struct {
		expose   bool
		wantAddr string
		wantPort bool
	}{{false, "127.0.0.1:9901", false}, {true, "0.0.0.0:9901", true}} {
		objs := renderSet(t, nil, "admin.expose="+strconv.FormatBool(tt.expose))
		bs := renderedBootstrap(t, objs)
		sa := bs.GetAdmin().GetAddress().GetSocketAddress()
		if got := sa.GetAddress() + ":" + itoa(sa.GetPortValue()); got != tt.wantAddr {
			t.Errorf("expose %v: Envoy admin on %s, want %s", tt.expose, got, tt.wantAddr)
		}
		env := container(t, routerPod(t, objs).Spec, "envoy")
		hasPort := slices.ContainsFunc(env.Ports, func(p corev1.ContainerPort) bool { return p.Name == "envoy-admin" && p.ContainerPort == 9901 })
		if hasPort != tt.wantPort {
			t.Errorf("expose %v: envoy-admin container port declared %v, want %v", tt.expose, hasPort, tt.wantPort)
		}
	}
}
