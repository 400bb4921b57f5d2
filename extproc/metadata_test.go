package extproc

import (
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// cpenMetadata is the answer's dynamic metadata in the cpen namespace, as
// plain Go values; nil when the answer carries none.
func cpenMetadata(t *testing.T, r *extprocv3.ProcessingResponse) map[string]any {
	t.Helper()
	// The sidecar sends the metadata pre-encoded: decode the answer as
	// Envoy would.
	wire, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var decoded extprocv3.ProcessingResponse
	if err := proto.Unmarshal(wire, &decoded); err != nil {
		t.Fatal(err)
	}
	md := decoded.GetDynamicMetadata()
	if md == nil {
		return nil
	}
	if len(md.GetFields()) != 1 {
		t.Fatalf("metadata namespaces %v, want only cpen", md.GetFields())
	}
	ns, ok := md.GetFields()["cpen"]
	if !ok {
		t.Fatalf("metadata without the cpen namespace: %v", md)
	}
	return ns.GetStructValue().AsMap()
}

// The routing answer names the route; the last answer the outcome, usage,
// cost and the sidecar's time. Envoy merges both into the request's
// metadata for its access log.
func TestDynamicMetadataOfARoutedRequest(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := routed(t, s, seedRequest, respHeaders("200", "application/json"),
		respBody(`{"id":"c","model":"upstream-mini","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":18,"total_tokens":60}}`))
	if got := cpenMetadata(t, out[0]); got != nil {
		t.Errorf("request headers answer carries metadata %v", got)
	}
	routedMD := cpenMetadata(t, out[1])
	if len(routedMD) != 4 || routedMD["route_id"] != "route_mid_01" || routedMD["alias"] != "cpen/middle" {
		t.Errorf("routing answer metadata %v", routedMD)
	}
	if rc, _ := routedMD["reason_code"].(string); rc == "" {
		t.Errorf("no reason_code in %v", routedMD)
	}
	// The route's estimated total as its cpen_route prints it (see
	// TestChatSeedExample).
	if est := routedMD["estimated_total_usd_per_1m"]; est != "0.18" {
		t.Errorf("estimated_total_usd_per_1m %v", routedMD["estimated_total_usd_per_1m"])
	}
	if got := cpenMetadata(t, out[2]); got != nil {
		t.Errorf("response headers answer carries metadata %v", got)
	}
	final := cpenMetadata(t, out[3])
	us, ok := final["processing_us"].(float64)
	if !ok || us < 0 {
		t.Errorf("processing_us %v", final["processing_us"])
	}
	delete(final, "processing_us")
	wantFinal := map[string]any{"status": "completed", "input_tokens": 42.0, "output_tokens": 18.0, "cost_usd": "0.000006"}
	if len(final) != len(wantFinal) {
		t.Errorf("final metadata %v, want %v", final, wantFinal)
	}
	for k, v := range wantFinal {
		if final[k] != v {
			t.Errorf("final metadata %s = %v, want %v", k, final[k], v)
		}
	}
}

// A refusal carries its status and code.
func TestDynamicMetadataOfARefusal(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := run(t, s, reqHeaders("/v1/chat/completions", "cpen_live_wrong"))
	got := cpenMetadata(t, out[0])
	if got["status"] != "rejected" || got["error_code"] != "invalid_api_key" {
		t.Errorf("refusal metadata %v", got)
	}
	if _, ok := got["processing_us"].(float64); !ok {
		t.Errorf("refusal metadata without processing_us: %v", got)
	}
}

// Metadata storage is reused across requests on a pooled exchange: a
// second request's answers carry its own fields only.
func TestDynamicMetadataDoesNotLeakAcrossRequests(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	_ = routed(t, s, seedRequest, respHeaders("200", "application/json"), respBody(`{"id":"c","model":"m","choices":[]}`))
	out := run(t, s, reqHeaders("/v1/chat/completions", "cpen_live_wrong"))
	got := cpenMetadata(t, out[0])
	if _, ok := got["route_id"]; ok || len(got) != 3 {
		t.Errorf("second request's metadata %v", got)
	}
}
