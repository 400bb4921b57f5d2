package extproc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/stream"
)

// nested returns a chat body whose messages nest n arrays deep, so that
// the whole body nests n+1 levels.
func nested(n int) string {
	return `{"model":"cpen/low","messages":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

// withRouting is a chat body on cpen/middle with the given routing block.
func withRouting(block string) string {
	return `{"model":"cpen/middle","messages":[{"role":"user","content":"Hi"}],"routing":` + block + `}`
}

// Deep nesting is refused with a 400 naming the bound, at the bound plus
// one; at the bound the body is served. A megabyte of brackets costs no
// more than any other 400.
func TestNestedJSONRefused(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := run(t, s, guestHeaders("198.51.100.7:1", ""), reqBody(nested(63)))
	if out[1].GetRequestBody() == nil {
		t.Fatalf("a body nested 64 levels was refused: %v", out[1])
	}
	for _, n := range []int{64, 1<<19 - 64} {
		ir, eb, _ := immediateOf(t, run(t, s, guestHeaders("198.51.100.8:1", ""), reqBody(nested(n))))
		if ir.GetStatus().GetCode() != 400 || eb.Error.Code != "invalid_json" ||
			eb.Detail != "Request body nests arrays and objects deeper than 64 levels" {
			t.Errorf("nested %d: %d %+v", n, ir.GetStatus().GetCode(), eb)
		}
	}
}

// A client that hangs up before the provider answers says nothing about
// the route: any number of such requests leaves every route live, while
// a provider 5xx answer still ejects a route.
func TestCancelledStreamsDoNotEject(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	cheapest := withRouting(`{"strategy":"cheapest"}`)
	for i := 0; i < 30; i++ {
		out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(cheapest))
		if out[1].GetRequestBody() == nil {
			t.Fatalf("request %d refused: %v", i, out[1])
		}
	}
	if got := middleCandidates(t, s); got != 3 {
		t.Fatalf("after 30 cancelled requests cpen/middle has %d live routes, want 3", got)
	}
	routed(t, s, cheapest, respHeaders("503", "application/json"), respBody(`{"error":{"message":"overloaded"}}`))
	if got := middleCandidates(t, s); got != 2 {
		t.Errorf("after a provider 503 cpen/middle has %d live routes, want 2 (the check above could not fail)", got)
	}
}

func middleCandidates(t *testing.T, s *Server) int {
	t.Helper()
	var st struct {
		Tiers []struct {
			Alias      string `json:"alias"`
			Candidates int    `json:"candidates"`
		} `json:"tiers"`
	}
	if err := json.Unmarshal(run(t, s, get("/v1/status/routes"))[0].GetImmediateResponse().GetBody(), &st); err != nil {
		t.Fatal(err)
	}
	for _, tier := range st.Tiers {
		if tier.Alias == "cpen/middle" {
			return tier.Candidates
		}
	}
	t.Fatal("no cpen/middle in the status")
	return 0
}

// A request's rpm_cap is checked against the key's window and never
// rewrites it: interleaving rpm_cap 1 requests cannot buy a key limited to
// 60 a minute more than 60 admissions.
func TestRPMCapDoesNotShrinkTheKeyWindow(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	capped := withRouting(`{"rpm_cap":1}`)
	admitted, cappedAdmitted := 0, 0
	for i := 0; i < 300; i++ {
		body := seedRequest
		if i%2 == 1 {
			body = capped
		}
		if out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body)); out[1].GetRequestBody() != nil {
			admitted++
			if i%2 == 1 {
				cappedAdmitted++
			}
		}
	}
	if admitted != 60 || cappedAdmitted != 0 {
		t.Errorf("admitted %d (%d with rpm_cap 1), want 60 (0)", admitted, cappedAdmitted)
	}
}

// Top-level keys that a case-insensitive upstream parser could read in
// place of the ones the sidecar priced are refused, as are duplicates.
func TestAmbiguousKeysRefused(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	tests := []struct{ name, body, detail string }{
		{"Model", `{"model":"cpen/middle","Model":"gpt-4.1","messages":[]}`,
			"Model is a case variant of model; send the key once, in lower case"},
		{"MODEL before model", `{"MODEL":"gpt-4.1","model":"cpen/middle","messages":[]}`,
			"MODEL is a case variant of model; send the key once, in lower case"},
		{"escaped", `{"model":"cpen/middle","\u004dodel":"gpt-4.1","messages":[]}`,
			"Model is a case variant of model; send the key once, in lower case"},
		{"long s", `{"model":"cpen/middle","messages":[],"ſtream":true}`,
			"ſtream is a case variant of stream; send the key once, in lower case"},
		{"Kelvin", `{"model":"cpen/middle","messages":[],"\u212aey":1,"Routing":{}}`,
			"Routing is a case variant of routing; send the key once, in lower case"},
		{"Messages", `{"model":"cpen/middle","messages":[],"Messages":[]}`,
			"Messages is a case variant of messages; send the key once, in lower case"},
		{"messages twice", `{"model":"cpen/middle","messages":[],"messages":[]}`, "messages appears twice"},
		{"stream_options twice", `{"model":"cpen/middle","messages":[],"stream_options":{},"stream_options":{}}`,
			"stream_options appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ir, eb, _ := immediateOf(t, run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(tc.body)))
			if ir.GetStatus().GetCode() != 400 || eb.Error.Code != "invalid_request" || eb.Detail != tc.detail {
				t.Errorf("%d %+v, want 400 %q", ir.GetStatus().GetCode(), eb, tc.detail)
			}
		})
	}
	// Keys that merely look alike still pass.
	if out := run(t, s, reqHeaders("/v1/chat/completions", seedKey),
		reqBody(`{"model":"cpen/middle","messages":[],"models":1,"model_x":2,"metadata":{}}`)); out[1].GetRequestBody() == nil {
		t.Errorf("a body with look-alike keys was refused: %v", out[1])
	}
}

// A megabyte of client input in a refused request costs a bounded reply
// and a bounded log line.
func TestRefusalQuotesABoundedPrefix(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s, _ := newTestServerWithLog(t, zap.New(core))
	huge := strings.Repeat("x", 1<<20-64)
	for _, body := range []string{
		`{"model":"` + huge + `","messages":[]}`,
		`{"model":"cpen/low","messages":[],"routing":{"` + huge[:4000] + `":1}}`,
	} {
		ir, eb, _ := immediateOf(t, run(t, s, guestHeaders("198.51.100.7:1", ""), reqBody(body)))
		if ir.GetStatus().GetCode() != 400 || len(ir.GetBody()) > 2*stream.MaxDetail+200 || !strings.Contains(eb.Detail, "…") {
			t.Errorf("reply of %d bytes: %.200s", len(ir.GetBody()), ir.GetBody())
		}
	}
	total := 0
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		total += len(b) + len(e.Message)
	}
	if total > 4096 {
		t.Errorf("two refusals logged %d bytes", total)
	}
}

func newTestServerWithLog(t *testing.T, log *zap.Logger) (*Server, *clock) {
	t.Helper()
	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	env := map[string]string{"PROV_A_KEY": "sk-prov-a", "PROV_B_KEY": "sk-prov-b"}
	s := NewServer(log, nil, WithClock(clk.now), WithEnv(func(k string) string { return env[k] }, os.ReadFile))
	t.Cleanup(s.Close)
	if err := s.Apply(cat); err != nil {
		t.Fatal(err)
	}
	return s, clk
}

// A provider's error names its model and itself in text and headers;
// neither reaches the client. Retry-After stays.
func TestProviderIdentityScrubbed(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	out := routed(t, s, seedRequest,
		respHeaders("404", "application/json", "server", "prov_a-edge", "via", "1.1 gw.prov_a.example",
			"x-model-hint", "upstream-mini", "x-backend", "PROV_A eu-1", "retry-after", "7", "content-length", "180"),
		respBody(`{"error":{"message":"The model `+"`upstream-mini`"+` does not exist on Prov_A","type":"invalid_request_error"},`+
			`"model":"upstream-mini","Model":"upstream-mini"}`))
	rh := mutationOf(out[2].GetResponseHeaders().GetResponse())
	for _, h := range []string{"-server", "-via", "-x-model-hint", "-x-backend"} {
		if !contains(rh, h) {
			t.Errorf("response headers %q lack %s", rh, h)
		}
	}
	if contains(rh, "-retry-after") {
		t.Errorf("retry-after removed: %q", rh)
	}
	rb := out[3].GetResponseBody().GetResponse()
	body := string(rb.GetBodyMutation().GetBody())
	if strings.Contains(body, "upstream-mini") || strings.Contains(strings.ToLower(body), "prov_a") {
		t.Errorf("body still names the provider: %s", body)
	}
	var got struct {
		Error struct{ Message string }
		Model string `json:"model"`
		Alt   string `json:"Model"`
		St    string `json:"cpen_status"`
		Route struct {
			RouteID string `json:"route_id"`
		} `json:"cpen_route"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("scrubbed body is not JSON: %v: %s", err, body)
	}
	if got.Error.Message != "The model `cpen/middle` does not exist on provider" || got.Model != "cpen/middle" ||
		got.Alt != "cpen/middle" || got.St != "failed" || got.Route.RouteID != "route_mid_01" {
		t.Errorf("scrubbed body: %+v", got)
	}
	if m := mutationOf(rb); len(m) != 1 || m[0] != "content-length="+itoa(len(body)) {
		t.Errorf("body mutation headers %q", m)
	}

	// A plain-text error is scrubbed too, with its new length.
	out = routed(t, s, seedRequest, respHeaders("503", "text/plain"), respBody("upstream-mini is overloaded at PROV_A"))
	rb = out[3].GetResponseBody().GetResponse()
	if b := string(rb.GetBodyMutation().GetBody()); b != "cpen/middle is overloaded at provider" ||
		!contains(mutationOf(rb), "content-length="+itoa(len(b))) {
		t.Errorf("text error: %q %q", b, mutationOf(rb))
	}
}

// Every header that can carry a client's secret is removed before the
// provider request, and a provider's own auth header only ever carries the
// provider's key: set when it has one, removed when it has none.
func TestClientSecretsNeverReachProvider(t *testing.T) {
	cat := filepath.Join(t.TempDir(), "catalog.yaml")
	raw, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.Replace(string(raw), "    auth_header: x-api-key\n", "    auth_header: x-custom-key\n", 1))
	if err := os.WriteFile(cat, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	prov := withRouting(`{"min_total_per_1m":"0.30","strategy":"cheapest"}`)
	secrets := []string{"api-key", "x-goog-api-key", "proxy-authorization", "cookie", "x-api-key", "x-custom-key"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // the x-custom-key value set, "" for none
	}{
		{"provider key configured", map[string]string{"PROV_B_KEY": "sk-prov-b"}, "sk-prov-b"},
		{"no provider key", map[string]string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.LoadFile(cat)
			if err != nil {
				t.Fatal(err)
			}
			s := NewServer(zap.NewNop(), nil, WithEnv(func(k string) string { return tc.env[k] }, os.ReadFile))
			t.Cleanup(s.Close)
			if err := s.Apply(c); err != nil {
				t.Fatal(err)
			}
			h := reqHeaders("/v1/chat/completions", seedKey)
			for _, k := range secrets {
				hv := h.GetRequestHeaders().GetHeaders()
				hv.Headers = append(hv.Headers, headers(false, k, "Bearer "+seedKey).GetHeaders().GetHeaders()...)
			}
			out := run(t, s, h, reqBody(prov))
			m := mutationOf(out[1].GetRequestBody().GetResponse())
			for _, k := range append(secrets, "authorization") {
				if !contains(m, "-"+k) {
					t.Errorf("%s not removed: %q", k, m)
				}
			}
			set := ""
			for _, e := range m {
				if v, ok := strings.CutPrefix(e, "x-custom-key="); ok {
					set = v
				}
				if strings.Contains(e, "cpen_live") {
					t.Errorf("a client key is sent upstream: %s", e)
				}
			}
			if set != tc.want {
				t.Errorf("x-custom-key set to %q, want %q", set, tc.want)
			}
		})
	}
}
