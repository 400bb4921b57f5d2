package tests

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// podTemplates returns the pod template of every workload among the decoded objects.
func podTemplates(decoded []any) map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for _, d := range decoded {
		switch w := d.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+w.Name] = w.Spec.Template
		case *appsv1.StatefulSet:
			out["StatefulSet/"+w.Name] = w.Spec.Template
		case *appsv1.DaemonSet:
			out["DaemonSet/"+w.Name] = w.Spec.Template
		}
	}
	return out
}

// checkRestricted holds a pod to Kubernetes' restricted Pod Security Standard, as the admission
// controller evaluates it at the latest version, and to what the chart promises beyond it: a
// read-only root filesystem, an explicit numeric non-root user, and no service account token.
func checkRestricted(t testing.TB, name string, pod corev1.PodTemplateSpec) {
	t.Helper()
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range eval.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
		if !r.Allowed {
			t.Errorf("%s: restricted Pod Security Standard: %s: %s", name, r.ForbiddenReason, r.ForbiddenDetail)
		}
	}

	spec := pod.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false", name)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: shares a host namespace", name)
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	containers := slices.Concat(spec.InitContainers, spec.Containers)
	if len(containers) == 0 {
		t.Errorf("%s: no containers", name)
	}
	for _, c := range containers {
		where := name + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		if v := firstSet(sc.RunAsNonRoot, psc.RunAsNonRoot); v == nil || !*v {
			t.Errorf("%s: runAsNonRoot is not true", where)
		}
		if v := firstSet(sc.RunAsUser, psc.RunAsUser); v == nil || *v == 0 {
			t.Errorf("%s: no numeric non-root runAsUser", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", where)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("%s: capabilities %+v, want drop [ALL] and none added", where, sc.Capabilities)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile %+v, want RuntimeDefault", where, seccomp)
		}
	}
}

// firstSet is the container's setting, or the pod's when the container leaves it unset.
func firstSet[T any](container, pod *T) *T {
	if container != nil {
		return container
	}
	return pod
}

// TestRestrictedCheckCatchesViolations proves checkRestricted fails pods that break the standard
// or the chart's promises, one violation at a time.
func TestRestrictedCheckCatchesViolations(t *testing.T) {
	yes, no := true, false
	uid := int64(65532)
	good := func() corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: &yes, RunAsUser: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{Name: "c", Image: "i", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}}},
		}}
	}
	tests := []struct {
		name  string
		spoil func(p *corev1.PodTemplateSpec)
	}{
		{"root user", func(p *corev1.PodTemplateSpec) { p.Spec.SecurityContext.RunAsUser = new(int64) }},
		{"no user", func(p *corev1.PodTemplateSpec) { p.Spec.SecurityContext.RunAsUser = nil }},
		{"writable root", func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &no }},
		{"escalation", func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil }},
		{"capability", func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}},
		{"no seccomp", func(p *corev1.PodTemplateSpec) { p.Spec.SecurityContext.SeccompProfile = nil }},
		{"token", func(p *corev1.PodTemplateSpec) { p.Spec.AutomountServiceAccountToken = nil }},
		{"host network", func(p *corev1.PodTemplateSpec) { p.Spec.HostNetwork = true }},
		{"host path", func(p *corev1.PodTemplateSpec) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}},
		{"init container", func(p *corev1.PodTemplateSpec) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "i"}}
		}},
	}
	checkRestricted(t, "good pod", good())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good()
			tt.spoil(&p)
			rec := &recorder{TB: t}
			checkRestricted(rec, tt.name, p)
			if !rec.failed {
				t.Errorf("checkRestricted passed a pod with %s", tt.name)
			}
		})
	}
}

// recorder notes a failure instead of failing, so a test can check that a check fails.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }
func (r *recorder) Helper()               {}
