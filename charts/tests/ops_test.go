package tests

import (
	"maps"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const productionValues = "testdata/hpa-pdb-monitoring-networkpolicy.yaml"

// TestAutoscalingAndDisruptionBudget: the HPA owns the replica count (the Deployment leaves it
// unset) and the budget covers the router pods.
func TestAutoscalingAndDisruptionBudget(t *testing.T) {
	objs := render(t, productionValues)
	if r := routerDeployment(t, objs).Spec.Replicas; r != nil {
		t.Errorf("Deployment replicas %d under an HPA, want unset", *r)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	decodeStrict(t, only(t, objs, "autoscaling/v2/HorizontalPodAutoscaler"), &hpa)
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != releaseFullname {
		t.Errorf("HPA targets %+v, want the router Deployment", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 12 {
		t.Errorf("HPA replicas %v..%d, want 3..12", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	m := hpa.Spec.Metrics
	if len(m) != 1 || m[0].Resource == nil || m[0].Resource.Name != corev1.ResourceCPU ||
		m[0].Resource.Target.AverageUtilization == nil || *m[0].Resource.Target.AverageUtilization != 60 {
		t.Errorf("HPA metrics %+v, want CPU at 60%%", m)
	}

	var pdb policyv1.PodDisruptionBudget
	decodeStrict(t, only(t, objs, "policy/v1/PodDisruptionBudget"), &pdb)
	pod := routerPod(t, objs)
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(2) || !selects(pdb.Spec.Selector, pod.Labels) {
		t.Errorf("PDB minAvailable %v selector %v, want 2 over the router pods %v", pdb.Spec.MinAvailable, pdb.Spec.Selector, pod.Labels)
	}
}

func selects(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil || len(sel.MatchLabels) == 0 || len(sel.MatchExpressions) != 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestServiceMonitor: the ServiceMonitor scrapes /metrics through a headless Service of its own
// that exposes only the sidecar's admin port; the router's main Service is not selected.
func TestServiceMonitor(t *testing.T) {
	objs := render(t, productionValues)
	var sm monitoringv1.ServiceMonitor
	decodeStrict(t, only(t, objs, "monitoring.coreos.com/v1/ServiceMonitor"), &sm)
	if sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v, want serviceMonitor.labels among them", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("endpoints %+v, want one", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "metrics" || ep.Path != "/metrics" || ep.Interval != "15s" {
		t.Errorf("endpoint port %q path %q interval %q, want metrics /metrics 15s", ep.Port, ep.Path, ep.Interval)
	}
	var metrics, main corev1.Service
	decodeStrict(t, named(t, objs, "v1/Service", releaseFullname+"-metrics"), &metrics)
	decodeStrict(t, named(t, objs, "v1/Service", releaseFullname), &main)
	if !selects(&sm.Spec.Selector, metrics.Labels) || selects(&sm.Spec.Selector, main.Labels) {
		t.Errorf("ServiceMonitor selector %v: want the metrics Service %v only, not %v", sm.Spec.Selector.MatchLabels, metrics.Labels, main.Labels)
	}
	want := []corev1.ServicePort{{Name: "metrics", Port: 9902, TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP}}
	if metrics.Spec.ClusterIP != corev1.ClusterIPNone || len(metrics.Spec.Ports) != 1 || !servicePortEqual(metrics.Spec.Ports[0], want[0]) ||
		!maps.Equal(metrics.Spec.Selector, routerPod(t, objs).Labels) {
		t.Errorf("metrics Service clusterIP %q ports %+v selector %v", metrics.Spec.ClusterIP, metrics.Spec.Ports, metrics.Spec.Selector)
	}
}

// TestNetworkPolicyExtproc: only the chosen Envoy pods, in the chosen namespaces, reach the gRPC
// port; the admin port only from metricsFrom, since a ServiceMonitor scrapes it.
func TestNetworkPolicyExtproc(t *testing.T) {
	objs := render(t, productionValues)
	var np networkingv1.NetworkPolicy
	decodeStrict(t, only(t, objs, "networking.k8s.io/v1/NetworkPolicy"), &np)
	if !maps.Equal(np.Spec.PodSelector.MatchLabels, routerPod(t, objs).Labels) {
		t.Errorf("policy selects %v, want the router pods", np.Spec.PodSelector.MatchLabels)
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("policyTypes %v, want [Ingress]", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 2 {
		t.Fatalf("ingress rules %+v, want gRPC and admin", np.Spec.Ingress)
	}
	grpc := np.Spec.Ingress[0]
	wantPeer := networkingv1.NetworkPolicyPeer{
		PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "envoy"}},
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"ingress"}},
		}},
	}
	if len(grpc.From) != 1 || !jsonEqual(t, grpc.From[0], wantPeer) || !onlyPort(grpc.Ports, "grpc") {
		t.Errorf("gRPC rule %+v, want %+v on port grpc", grpc, wantPeer)
	}
	admin := np.Spec.Ingress[1]
	wantMetrics := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"},
	}}
	if len(admin.From) != 1 || !jsonEqual(t, admin.From[0], wantMetrics) || !onlyPort(admin.Ports, "admin") {
		t.Errorf("admin rule %+v, want the monitoring namespace on port admin", admin)
	}
}

// TestNetworkPolicyGateway: Envoy's listener is open (or open to ingressFrom), and without a
// ServiceMonitor or admin.expose no rule admits the admin ports.
func TestNetworkPolicyGateway(t *testing.T) {
	objs := renderSet(t, nil, "networkPolicy.enabled=true")
	var np networkingv1.NetworkPolicy
	decodeStrict(t, only(t, objs, "networking.k8s.io/v1/NetworkPolicy"), &np)
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 0 || !onlyPort(np.Spec.Ingress[0].Ports, "http") {
		t.Errorf("ingress %+v, want one rule: port http from anywhere", np.Spec.Ingress)
	}

	objs = renderSet(t, nil, "networkPolicy.enabled=true", "admin.expose=true",
		"networkPolicy.ingressFrom[0].ipBlock.cidr=10.0.0.0/8")
	decodeStrict(t, only(t, objs, "networking.k8s.io/v1/NetworkPolicy"), &np)
	if len(np.Spec.Ingress) != 2 {
		t.Fatalf("ingress %+v, want listener and admin rules", np.Spec.Ingress)
	}
	if from := np.Spec.Ingress[0].From; len(from) != 1 || from[0].IPBlock == nil || from[0].IPBlock.CIDR != "10.0.0.0/8" {
		t.Errorf("listener rule from %+v, want 10.0.0.0/8", from)
	}
	if ports := np.Spec.Ingress[1].Ports; len(ports) != 2 || *ports[0].Port != intstr.FromString("admin") || *ports[1].Port != intstr.FromString("envoy-admin") {
		t.Errorf("admin rule ports %+v, want admin and envoy-admin", ports)
	}
}

func onlyPort(ports []networkingv1.NetworkPolicyPort, name string) bool {
	return len(ports) == 1 && ports[0].Port != nil && *ports[0].Port == intstr.FromString(name) &&
		ports[0].Protocol != nil && *ports[0].Protocol == corev1.ProtocolTCP
}
