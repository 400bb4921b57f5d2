package tests

import (
	"encoding/json"
	"maps"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	istioapiv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A kindDecoder decodes one rendered object strictly into the Go type of its apiVersion and kind,
// failing the test on any field that type does not have, and returns the decoded value.
type kindDecoder func(t *testing.T, o renderedObject) any

// typed is the decoder for a plain Go type with JSON tags.
func typed[T any]() kindDecoder {
	return func(t *testing.T, o renderedObject) any {
		t.Helper()
		v := new(T)
		decodeStrict(t, o, v)
		return v
	}
}

// coreKinds are the kinds the chart's own templates render.
func coreKinds() map[string]kindDecoder {
	return map[string]kindDecoder{
		"v1/ConfigMap":                            typed[corev1.ConfigMap](),
		"v1/Secret":                               typed[corev1.Secret](),
		"v1/Service":                              typed[corev1.Service](),
		"v1/ServiceAccount":                       typed[corev1.ServiceAccount](),
		"v1/PersistentVolumeClaim":                typed[corev1.PersistentVolumeClaim](),
		"apps/v1/Deployment":                      typed[appsv1.Deployment](),
		"autoscaling/v2/HorizontalPodAutoscaler":  typed[autoscalingv2.HorizontalPodAutoscaler](),
		"policy/v1/PodDisruptionBudget":           typed[policyv1.PodDisruptionBudget](),
		"networking.k8s.io/v1/NetworkPolicy":      typed[networkingv1.NetworkPolicy](),
		"monitoring.coreos.com/v1/ServiceMonitor": typed[monitoringv1.ServiceMonitor](),
	}
}

// attachKinds are the kinds of the Envoy Gateway and Istio attachments (mode extproc).
func attachKinds() map[string]kindDecoder {
	return map[string]kindDecoder{
		"gateway.envoyproxy.io/v1alpha1/EnvoyExtensionPolicy": typed[egv1a1.EnvoyExtensionPolicy](),
		"gateway.envoyproxy.io/v1alpha1/Backend":              typed[egv1a1.Backend](),
		"gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy": typed[egv1a1.BackendTrafficPolicy](),
		"gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy":  typed[egv1a1.ClientTrafficPolicy](),
		"gateway.networking.k8s.io/v1/HTTPRoute":              typed[gwapiv1.HTTPRoute](),
		"gateway.networking.k8s.io/v1/BackendTLSPolicy":       typed[gwapiv1.BackendTLSPolicy](),
		"networking.istio.io/v1alpha3/EnvoyFilter": istioKind[istionetv1alpha3.EnvoyFilter](func() proto.Message {
			return &istioapiv1alpha3.EnvoyFilter{}
		}),
		"networking.istio.io/v1/VirtualService": istioKind[istionetv1.VirtualService](func() proto.Message {
			return &istioapiv1alpha3.VirtualService{}
		}),
		"networking.istio.io/v1/ServiceEntry": istioKind[istionetv1.ServiceEntry](func() proto.Message {
			return &istioapiv1alpha3.ServiceEntry{}
		}),
		"networking.istio.io/v1/DestinationRule": istioKind[istionetv1.DestinationRule](func() proto.Message {
			return &istioapiv1alpha3.DestinationRule{}
		}),
	}
}

// allKinds is every kind a values file of the test matrix may render; any other kind fails.
func allKinds() map[string]kindDecoder {
	out := coreKinds()
	maps.Copy(out, attachKinds())
	return out
}

// istioKind decodes an Istio object. Istio's Go types read their spec with a decoder that skips
// unknown fields, so the envelope is decoded strictly into the client-go type and the spec again by
// protojson into the API message, which refuses them.
func istioKind[T any](spec func() proto.Message) kindDecoder {
	return func(t *testing.T, o renderedObject) any {
		t.Helper()
		obj := new(T)
		decodeStrict(t, o, obj)
		var top map[string]json.RawMessage
		if err := json.Unmarshal(o.JSON, &top); err != nil {
			t.Fatalf("%s %s: %v", o.key(), o.Name, err)
		}
		for k := range top {
			switch k {
			case "apiVersion", "kind", "metadata", "spec":
			default:
				t.Errorf("%s %s: unexpected top-level field %q", o.key(), o.Name, k)
			}
		}
		m := spec()
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(top["spec"], m); err != nil {
			t.Fatalf("%s %s: spec: %v", o.key(), o.Name, err)
		}
		return obj
	}
}

// decodeAll decodes every object with the table; a kind the table lacks fails the test.
func decodeAll(t *testing.T, objs []renderedObject, kinds map[string]kindDecoder) []any {
	t.Helper()
	out := make([]any, 0, len(objs))
	for _, o := range objs {
		dec, ok := kinds[o.key()]
		if !ok {
			t.Errorf("%s %s: a kind the chart tests do not know; add its Go type", o.key(), o.Name)
			continue
		}
		out = append(out, dec(t, o))
	}
	return out
}
