package tests

import (
	"maps"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	telemetryapi "istio.io/api/telemetry/v1alpha1"
	istiotelemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	"sigs.k8s.io/yaml"
)

// TestReadmeAccessLogSnippets: the README's access log settings for Envoy Gateway and Istio decode
// strictly into their API types, match the CRD schemas those modules ship, and log exactly the
// fields of envoy/envoy.yaml's access log, to stdout.
func TestReadmeAccessLogSnippets(t *testing.T) {
	want := bootstrapAccessLogFormat(t)
	for _, field := range []string{"route_id", "alias", "status", "cost_usd", "processing_us"} {
		if got := want["cpen_"+field]; got != "%DYNAMIC_METADATA(cpen:"+field+")%" {
			t.Errorf("%s logs cpen_%s as %q, want the sidecar's metadata", bootstrapFile, field, got)
		}
	}

	t.Run("envoy gateway", func(t *testing.T) {
		o := only(t, splitDocuments(t, string(readmeSnippet(t, "envoy gateway access log"))), "gateway.envoyproxy.io/v1alpha1/EnvoyProxy")
		newCRDSchemas(t, envoyGatewayCRDFiles(t)...).validate(t, o)
		var proxy egv1a1.EnvoyProxy
		decodeStrict(t, o, &proxy)
		al := proxy.Spec.Telemetry
		if al == nil || al.AccessLog == nil || len(al.AccessLog.Settings) != 1 {
			t.Fatalf("EnvoyProxy telemetry %s, want one access log setting", jsonOf(al))
		}
		s := al.AccessLog.Settings[0]
		if s.Type != nil || s.Matches != nil {
			t.Errorf("access log type %v matches %v, want neither: every request of every route is logged", s.Type, s.Matches)
		}
		wantSinks := []egv1a1.ProxyAccessLogSink{{Type: egv1a1.ProxyAccessLogSinkTypeFile, File: &egv1a1.FileEnvoyProxyAccessLog{Path: "/dev/stdout"}}}
		if !sameJSON(s.Sinks, wantSinks) {
			t.Errorf("access log sinks %s, want %s", jsonOf(s.Sinks), jsonOf(wantSinks))
		}
		if s.Format == nil || s.Format.Type == nil || *s.Format.Type != egv1a1.ProxyAccessLogFormatTypeJSON || s.Format.Text != nil {
			t.Fatalf("access log format %s, want JSON", jsonOf(s.Format))
		}
		if !maps.Equal(s.Format.JSON, want) {
			t.Errorf("access log JSON fields\n%s\nwant those of %s\n%s", jsonOf(s.Format.JSON), bootstrapFile, jsonOf(want))
		}
	})

	t.Run("istio", func(t *testing.T) {
		js, err := yaml.YAMLToJSONStrict(readmeSnippet(t, "istio access log provider"))
		if err != nil {
			t.Fatal(err)
		}
		var mesh meshv1alpha1.MeshConfig
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &mesh); err != nil {
			t.Fatalf("provider snippet into MeshConfig: %v", err)
		}
		if len(mesh.GetExtensionProviders()) != 1 {
			t.Fatalf("mesh config snippet has %d extension providers, want 1", len(mesh.GetExtensionProviders()))
		}
		provider := mesh.GetExtensionProviders()[0]
		file := provider.GetEnvoyFileAccessLog()
		if file == nil || file.GetPath() != "/dev/stdout" || file.GetOmitEmptyValues() {
			t.Fatalf("extension provider %s, want an Envoy file access log to /dev/stdout keeping null fields", protojson.Format(provider))
		}
		labels := file.GetLogFormat().GetLabels()
		if got := stringFields(t, labels); !maps.Equal(got, want) {
			t.Errorf("access log labels\n%s\nwant those of %s\n%s", jsonOf(got), bootstrapFile, jsonOf(want))
		}

		o := only(t, splitDocuments(t, string(readmeSnippet(t, "istio telemetry"))), "telemetry.istio.io/v1/Telemetry")
		newCRDSchemas(t, istioCRDFile(t)).validate(t, o)
		tel := decodeIstio(t, o, &istiotelemetryv1.Telemetry{}, &telemetryapi.Telemetry{})
		logging := tel.GetAccessLogging()
		if len(logging) != 1 || len(logging[0].GetProviders()) != 1 || logging[0].GetProviders()[0].GetName() != provider.GetName() {
			t.Errorf("Telemetry accessLogging %v, want the one provider %q", logging, provider.GetName())
		}
		if len(tel.GetSelector().GetMatchLabels()) == 0 {
			t.Errorf("Telemetry selects no pods; want the gateway's or workload's labels, as istio.workloadSelector")
		}
	})
}

// bootstrapAccessLogFormat is the JSON format of envoy/envoy.yaml's one access log, field to
// command operator, after checking it writes to stdout.
func bootstrapAccessLogFormat(t *testing.T) map[string]string {
	t.Helper()
	var logs []*streamv3.StdoutAccessLog
	for _, l := range loadBootstrap(t).GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				for _, al := range hcm.GetAccessLog() {
					out := &streamv3.StdoutAccessLog{}
					if err := al.GetTypedConfig().UnmarshalTo(out); err != nil {
						t.Fatalf("%s access log %q is not Envoy's stdout log: %v", bootstrapFile, al.GetName(), err)
					}
					logs = append(logs, out)
				}
			}
		}
	}
	if len(logs) != 1 {
		t.Fatalf("%s has %d access logs, want 1", bootstrapFile, len(logs))
	}
	return stringFields(t, logs[0].GetLogFormat().GetJsonFormat())
}

// stringFields is a flat Struct of strings as a map; anything else fails.
func stringFields(t *testing.T, s *structpb.Struct) map[string]string {
	t.Helper()
	if len(s.GetFields()) == 0 {
		t.Fatalf("log format has no fields")
	}
	out := map[string]string{}
	for k, v := range s.GetFields() {
		sv, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			t.Fatalf("log format field %q is %v, want a string", k, v)
		}
		out[k] = sv.StringValue
	}
	return out
}
