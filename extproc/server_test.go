package extproc

import (
	"encoding/json"
	"flag"
	"github.com/cpen/router/extproc/internal/envoytest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"

	"github.com/cpen/router/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	seedKey  = "cpen_live_test_seed"
	otherKey = "cpen_live_test_other"
)

// The messages and stream of Envoy's side.
type fakeStream = envoytest.Stream

var (
	headers     = envoytest.Headers
	reqHeaders  = envoytest.ReqHeaders
	reqBody     = envoytest.ReqBody
	respHeaders = envoytest.RespHeaders
	respBody    = envoytest.RespBody
	respChunk   = envoytest.RespChunk
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestServer(t testing.TB, catalogFile string, opts ...Option) (*Server, *clock) {
	t.Helper()
	cat, err := config.LoadFile(catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	env := map[string]string{"PROV_A_KEY": "sk-prov-a", "PROV_B_KEY": "sk-prov-b"}
	s := NewServer(zap.NewNop(), nil, append([]Option{WithClock(clk.now),
		WithEnv(func(k string) string { return env[k] }, os.ReadFile)}, opts...)...)
	t.Cleanup(s.Close)
	if err := s.Apply(cat); err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func run(t testing.TB, s *Server, msgs ...*extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	t.Helper()
	f := &fakeStream{In: msgs}
	if err := s.Process(f); err != nil {
		t.Fatalf("Process: %v", err)
	}
	return f.Out
}

// mutationOf flattens a header mutation: "-name" for removals, "name=value" for sets.
func mutationOf(c *extprocv3.CommonResponse) []string {
	var out []string
	for _, r := range c.GetHeaderMutation().GetRemoveHeaders() {
		out = append(out, "-"+r)
	}
	for _, h := range c.GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetValue() != "" {
			out = append(out, "VALUE-FIELD-USED:"+h.GetHeader().GetKey())
		}
		out = append(out, h.GetHeader().GetKey()+"="+string(h.GetHeader().GetRawValue()))
	}
	sort.Strings(out)
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update)", name, err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden:\ngot  %s\nwant %s", name, got, want)
	}
}

const seedRequest = `{"model":"cpen/middle","messages":[{"role":"user","content":"Hi"}],` +
	`"routing":{"max_total_per_1m":"0.30","min_total_per_1m":"0.05","strategy":"balanced"},"temperature":0.2}`

const providerAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"upstream-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`

// The seed example (route_mid_01 at 0.18 USD per 1M, the README's worked
// example), message by message.
func TestChatSeedExample(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := run(t, s,
		reqHeaders("/v1/chat/completions", seedKey),
		reqBody(seedRequest),
		// x-envoy-* is Envoy's to drop: the default mutation rules refuse
		// the sidecar any change to it.
		respHeaders("200", "application/json", "openai-organization", "org-x", "x-ratelimit-limit-tokens", "1000", "x-request-id", "up-1",
			"x-envoy-upstream-service-time", "12", "x-envoy-upstream-host", "upstream-mini.example"),
		respBody(providerAnswer),
	)
	if len(out) != 4 {
		t.Fatalf("got %d answers, want 4", len(out))
	}
	if out[0].GetRequestHeaders() == nil {
		t.Fatalf("answer 1 is %T, want request_headers", out[0].Response)
	}

	body := out[1].GetRequestBody().GetResponse()
	if !body.GetClearRouteCache() {
		t.Error("request body answer does not clear the route cache")
	}
	wantReq := []string{"-accept-encoding", "-api-key", "-authorization", "-cookie", "-proxy-authorization", "-x-api-key", "-x-goog-api-key", ":path=/v1/chat/completions", "authorization=Bearer sk-prov-a",
		"content-length=" + itoa(len(body.GetBodyMutation().GetBody())), "x-cpen-upstream-cluster=cluster_a"}
	if got := mutationOf(body); strings.Join(got, "\n") != strings.Join(wantReq, "\n") {
		t.Errorf("request mutation:\ngot  %q\nwant %q", got, wantReq)
	}
	golden(t, "seed_request.golden.json", body.GetBodyMutation().GetBody())

	rh := out[2].GetResponseHeaders().GetResponse()
	wantResp := []string{"-openai-organization", "-x-ratelimit-limit-tokens", "-x-request-id", "x-cpen-route-id=route_mid_01", "x-cpen-status=completed",
		"x-ratelimit-limit-requests=60", "x-ratelimit-remaining-requests=59", "x-ratelimit-reset-requests=60s"}
	if got := mutationOf(rh); strings.Join(got, "\n") != strings.Join(wantResp, "\n") {
		t.Errorf("response header mutation:\ngot  %q\nwant %q", got, wantResp)
	}

	rb := out[3].GetResponseBody().GetResponse()
	newBody := rb.GetBodyMutation().GetBody()
	if got := mutationOf(rb); len(got) != 1 || got[0] != "content-length="+itoa(len(newBody)) {
		t.Errorf("response body mutation %q", got)
	}
	golden(t, "seed_response.golden.json", newBody)

	var resp struct {
		Model      string                     `json:"model"`
		CPENStatus string                     `json:"cpen_status"`
		CPENRoute  map[string]json.RawMessage `json:"cpen_route"`
	}
	if err := json.Unmarshal(newBody, &resp); err != nil {
		t.Fatalf("response body is not JSON: %v", err)
	}
	want := map[string]string{
		"alias": `"cpen/middle"`, "task": `"chat"`, "route_id": `"route_mid_01"`,
		"intelligence_level": `"middle"`, "model_family": `"gpt-mini-or-flash-class"`,
		"input_per_1m": `"0.04"`, "output_per_1m": `"0.24"`, "currency": `"USD"`,
		"input_usd_per_1m": `"0.04"`, "output_usd_per_1m": `"0.24"`,
		"estimated_cost_usd_per_1m": `"0.18"`, "cpen_fee_rate": `"0"`,
		"estimated_total_usd_per_1m": `"0.18"`,
		"rpm_cap":                    `60`, "strategy": `"balanced"`, "continuity_mode": `"stay_within_cap"`,
		"escalation_allowed": `false`, "escalated": `false`,
		"reason_code": `"balanced_fit"`,
		"reason":      `"Selected the cheapest live middle-tier route inside the declared cap."`,
	}
	if resp.Model != "cpen/middle" || resp.CPENStatus != "completed" {
		t.Errorf("model %q, cpen_status %q", resp.Model, resp.CPENStatus)
	}
	if len(resp.CPENRoute) != len(want) {
		t.Errorf("cpen_route has %d fields, want %d: %v", len(resp.CPENRoute), len(want), resp.CPENRoute)
	}
	for k, v := range want {
		if string(resp.CPENRoute[k]) != v {
			t.Errorf("cpen_route.%s = %s, want %s", k, resp.CPENRoute[k], v)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
