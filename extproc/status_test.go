package extproc

import (
	"encoding/json"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

func get(path string, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: headers(true, append([]string{":method", "GET", ":path", path}, kv...)...)}}
}

func TestStatusRoutes(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := run(t, s, get("/v1/status/routes"))
	ir := out[0].GetImmediateResponse()
	if ir.GetStatus().GetCode() != 200 {
		t.Fatalf("status %d", ir.GetStatus().GetCode())
	}
	golden(t, "status_routes.golden.json", ir.GetBody())
	var v map[string]any
	if err := json.Unmarshal(ir.GetBody(), &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}

func TestBillingStatus(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	tests := []struct {
		name   string
		kv     []string
		status int
		golden string
	}{
		{"public", nil, 200, "billing_public.golden.json"},
		{"with key", []string{"authorization", "Bearer " + seedKey}, 200, "billing_key.golden.json"},
		{"bad key", []string{"authorization", "Bearer cpen_live_nope"}, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ir := run(t, s, get("/v1/billing/status", tc.kv...))[0].GetImmediateResponse()
			if int(ir.GetStatus().GetCode()) != tc.status {
				t.Fatalf("status %d, want %d", ir.GetStatus().GetCode(), tc.status)
			}
			if tc.golden != "" {
				golden(t, tc.golden, ir.GetBody())
			}
		})
	}
}

// Guests need no key, share one limit per address (the catalog's
// guest_rpm, 2 by default), and the limit names the address.
func TestPlaygroundGuestLimit(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	guest := func(addr string) *extprocv3.ProcessingRequest {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: headers(false,
			":method", "POST", ":path", "/playground/v1/chat/completions", "x-forwarded-for", "203.0.113.9, "+addr)}}
	}
	body := `{"model":"cpen/low","messages":[]}`
	for i := 0; i < 2; i++ {
		out := run(t, s, guest("198.51.100.7"), reqBody(body))
		if out[1].GetRequestBody() == nil {
			t.Fatalf("guest request %d refused: %v", i, out[1])
		}
		if got := mutationOf(out[1].GetRequestBody().GetResponse()); !contains(got, ":path=/v1/chat/completions") {
			t.Errorf("upstream path: %q", got)
		}
	}
	_, eb, h := immediateOf(t, run(t, s, guest("198.51.100.7"), reqBody(body)))
	if eb.Error.Code != "rpm_cap_exceeded" || !strings.Contains(eb.Detail, "guest address 198.51.100.7") || h["x-ratelimit-limit-requests"] != "2" {
		t.Errorf("third guest request: %+v %v", eb, h)
	}
	// Another address has its own window; the forged first entry counts for nothing.
	if out := run(t, s, guest("198.51.100.8"), reqBody(body)); out[1].GetRequestBody() == nil {
		t.Errorf("another address was limited: %v", out[1])
	}
	ir := run(t, s, get("/playground"))[0].GetImmediateResponse()
	if ir.GetStatus().GetCode() != 200 || !strings.Contains(string(ir.GetBody()), "/playground/v1/chat/completions") {
		t.Errorf("/playground: %d", ir.GetStatus().GetCode())
	}
}
