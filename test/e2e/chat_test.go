package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const (
	seedKey     = "cpen_live_e2e_seed"
	strategyKey = "cpen_live_e2e_strategy"
	stayKey     = "cpen_live_e2e_cont_stay"
	escKey      = "cpen_live_e2e_cont_esc"
	rpmKey      = "cpen_live_e2e_rpm"
	errorsKey   = "cpen_live_e2e_errors"
	leakKey     = "cpen_live_e2e_leak"
)

type route map[string]any

// chat sends one chat completion with an optional routing block (nil: none).
func chat(t *testing.T, s *stack, key, model string, routing any, extra ...option.RequestOption) (*openai.ChatCompletion, *http.Response, error) {
	t.Helper()
	var resp *http.Response
	opts := append([]option.RequestOption{option.WithResponseInto(&resp)}, extra...)
	if routing != nil {
		opts = append(opts, option.WithJSONSet("routing", routing))
	}
	c := s.client(key)
	comp, err := c.Chat.Completions.New(ctx(t), openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Classify: the parcel arrived late.")},
	}, opts...)
	return comp, resp, err
}

// cpenRoute decodes the cpen_route the SDK kept as an extra field.
func cpenRoute(t *testing.T, comp *openai.ChatCompletion) map[string]any {
	t.Helper()
	f, ok := comp.JSON.ExtraFields["cpen_route"]
	if !ok {
		t.Fatalf("no cpen_route in %s", comp.RawJSON())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(f.Raw()), &m); err != nil {
		t.Fatalf("cpen_route %s: %v", f.Raw(), err)
	}
	return m
}

func mustChat(t *testing.T, s *stack, key, model string, routing any) (*openai.ChatCompletion, map[string]any, *http.Response) {
	t.Helper()
	comp, resp, err := chat(t, s, key, model, routing)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	return comp, cpenRoute(t, comp), resp
}

// The README's worked example (route_mid_01 at 0.18 USD per 1M), field for
// field, through the SDK.
func TestSeedExample(t *testing.T) {
	s := startStack(t)
	comp, got, resp := mustChat(t, s, seedKey, "cpen/middle",
		route{"max_total_per_1m": "0.30", "min_total_per_1m": "0.05", "strategy": "balanced"})
	want := map[string]any{
		"alias": "cpen/middle", "task": "chat", "route_id": "route_mid_01",
		"intelligence_level": "middle", "model_family": "gpt-mini-or-flash-class",
		"input_per_1m": "0.04", "output_per_1m": "0.24", "currency": "USD",
		"input_usd_per_1m": "0.04", "output_usd_per_1m": "0.24",
		"estimated_cost_usd_per_1m": "0.18", "cpen_fee_rate": "0",
		"estimated_total_usd_per_1m": "0.18",
		"rpm_cap":                    float64(60), "strategy": "balanced", "continuity_mode": "stay_within_cap",
		"escalation_allowed": false, "escalated": false,
		"reason_code": "balanced_fit",
		"reason":      "Selected the cheapest live middle-tier route inside the declared cap.",
	}
	if len(got) != len(want) {
		t.Errorf("cpen_route has %d fields, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("cpen_route.%s = %#v, want %#v", k, got[k], v)
		}
	}
	if comp.Model != "cpen/middle" {
		t.Errorf("model %q, want the alias", comp.Model)
	}
	if st := comp.JSON.ExtraFields["cpen_status"].Raw(); st != `"completed"` {
		t.Errorf("cpen_status %s", st)
	}
	if comp.Usage.TotalTokens == 0 || len(comp.Choices) != 1 || comp.Choices[0].Message.Content == "" {
		t.Errorf("provider answer lost: %s", comp.RawJSON())
	}
	for k, v := range map[string]string{"x-cpen-route-id": "route_mid_01", "x-cpen-status": "completed",
		"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "60s"} {
		if resp.Header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), v)
		}
	}
}

func TestStrategies(t *testing.T) {
	s := startStack(t)
	tests := []struct {
		name, model string
		routing     route
		routeID     string
		reason      string
	}{
		{"cheapest middle", "cpen/middle", route{"strategy": "cheapest"}, "route_mid_01", "cheapest_fit"},
		{"cheapest low picks the EUR route", "cpen/low", route{"strategy": "cheapest"}, "route_low_02", "cheapest_fit"},
		{"balanced default", "cpen/middle", nil, "route_mid_01", "balanced_fit"},
		{"floor excludes the cheapest", "cpen/middle", route{"strategy": "cheapest", "min_total_per_1m": 0.30}, "route_mid_02", "cheapest_fit"},
		{"input cap", "cpen/middle", route{"strategy": "cheapest", "max_input_per_1m": "0.055", "min_total_per_1m": "0.3"}, "route_mid_03", "cheapest_fit"},
		{"continuity new pin", "cpen/middle", route{"strategy": "continuity"}, "route_mid_01", "continuity_new_pin"},
		{"continuity pinned", "cpen/middle", route{"strategy": "continuity"}, "route_mid_01", "continuity_pinned"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r any
			if tc.routing != nil {
				r = tc.routing
			}
			_, got, _ := mustChat(t, s, strategyKey, tc.model, r)
			if got["route_id"] != tc.routeID || got["reason_code"] != tc.reason {
				t.Errorf("route %v (%v), want %s (%s); reason: %v", got["route_id"], got["reason_code"], tc.routeID, tc.reason, got["reason"])
			}
		})
	}
}

// Continuity across requests when a reload raises the pinned route's price
// above the cap: stay_within_cap moves, temporary_escalation with consent
// stays for that one request.
func TestContinuityAcrossReload(t *testing.T) {
	s := startStack(t)
	cap := route{"strategy": "continuity", "max_total_per_1m": "0.33"}
	for _, key := range []string{stayKey, escKey} {
		if _, got, _ := mustChat(t, s, key, "cpen/middle", cap); got["reason_code"] != "continuity_new_pin" || got["route_id"] != "route_mid_01" {
			t.Fatalf("first request: %v", got)
		}
		if _, got, _ := mustChat(t, s, key, "cpen/middle", cap); got["reason_code"] != "continuity_pinned" || got["route_id"] != "route_mid_01" {
			t.Fatalf("second request: %v", got)
		}
	}
	// route_mid_01 goes from 0.28 to 0.04 + 0.34 = 0.38, above the 0.33 cap.
	s.reloadCatalog(func(c string) string {
		return strings.Replace(c, `output_per_1m: "0.24" # route_mid_01 output`, `output_per_1m: "0.34"`, 1)
	})

	esc := route{"strategy": "continuity", "max_total_per_1m": "0.33", "continuity_mode": "temporary_escalation", "allow_temporary_high_price": true}
	_, got, resp := mustChat(t, s, escKey, "cpen/middle", esc)
	if got["reason_code"] != "continuity_escalated" || got["route_id"] != "route_mid_01" || got["escalated"] != true ||
		got["escalation_allowed"] != true || got["output_per_1m"] != "0.34" || resp.Header.Get("x-cpen-route-id") != "route_mid_01" {
		t.Errorf("escalation: %v", got)
	}
	// The consent covered one request: without it the next one moves.
	_, got, _ = mustChat(t, s, escKey, "cpen/middle", route{"strategy": "continuity", "max_total_per_1m": "0.33", "continuity_mode": "temporary_escalation"})
	if got["reason_code"] != "continuity_repinned" || got["escalated"] != false || got["escalation_allowed"] != false {
		t.Errorf("after escalation without consent: %v", got)
	}

	// stay_within_cap: same family first (route_mid_02, 0.32) over the nearer-priced other family.
	_, got, _ = mustChat(t, s, stayKey, "cpen/middle", cap)
	if got["reason_code"] != "continuity_repinned" || got["route_id"] != "route_mid_02" {
		t.Errorf("stay_within_cap: %v", got)
	}
	if reason, _ := got["reason"].(string); !strings.Contains(reason, "route_mid_01") {
		t.Errorf("reason does not name the route left: %q", reason)
	}
	_, got, _ = mustChat(t, s, stayKey, "cpen/middle", cap)
	if got["reason_code"] != "continuity_pinned" || got["route_id"] != "route_mid_02" {
		t.Errorf("after repin: %v", got)
	}
}

// apiError sends a request that must fail and returns the SDK's error.
func apiError(t *testing.T, s *stack, key, model string, routing any) *openai.Error {
	t.Helper()
	_, _, err := chat(t, s, key, model, routing)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v, want an *openai.Error", err)
	}
	return apiErr
}

func errorDetail(t *testing.T, e *openai.Error) string {
	t.Helper()
	// The SDK reads "error"; curl users read "detail" from the same body.
	var body struct {
		Detail string `json:"detail"`
	}
	if e.Response == nil {
		t.Fatal("no response on the SDK error")
	}
	dump := e.DumpResponse(true)
	i := strings.Index(string(dump), "\r\n\r\n")
	if err := json.Unmarshal(dump[i+4:], &body); err != nil {
		t.Fatalf("error body: %v (%s)", err, dump)
	}
	return body.Detail
}

func TestErrorsThroughSDK(t *testing.T) {
	s := startStack(t)
	tests := []struct {
		name, key, model string
		routing          any
		status           int
		errType, code    string
		detail           string
	}{
		{"402 under budget", errorsKey, "cpen/middle", route{"max_total_per_1m": "0.01"}, 402, "insufficient_budget", "no_route_under_budget", "No route available under budget"},
		{"401 unknown key", "cpen_live_not_a_key", "cpen/middle", nil, 401, "authentication_error", "invalid_api_key", "Missing or invalid API key"},
		{"400 currency EUR", errorsKey, "cpen/middle", route{"currency": "EUR"}, 400, "invalid_request_error", "invalid_routing", `routing.currency must be "USD"`},
		{"400 negative cap", errorsKey, "cpen/middle", route{"max_total_per_1m": "-1"}, 400, "invalid_request_error", "invalid_routing", "routing.max_total_per_1m must lie in [0, 1000000]"},
		{"400 too many digits", errorsKey, "cpen/middle", route{"max_input_per_1m": "0.1234567890123"}, 400, "invalid_request_error", "invalid_routing", "routing.max_input_per_1m must have at most 12 fractional digits"},
		{"400 not a number", errorsKey, "cpen/middle", route{"max_output_per_1m": "cheap"}, 400, "invalid_request_error", "invalid_routing", "routing.max_output_per_1m must be a decimal number (string or number)"},
		{"400 min above max", errorsKey, "cpen/middle", route{"min_total_per_1m": "0.3", "max_total_per_1m": "0.2"}, 400, "invalid_request_error", "invalid_routing", "routing.min_total_per_1m must not be greater than routing.max_total_per_1m"},
		{"400 rpm_cap string", errorsKey, "cpen/middle", route{"rpm_cap": "60"}, 400, "invalid_request_error", "invalid_routing", "routing.rpm_cap must be an integer from 1 to 1000000"},
		{"400 rpm_cap fraction", errorsKey, "cpen/middle", route{"rpm_cap": 2.5}, 400, "invalid_request_error", "invalid_routing", "routing.rpm_cap must be an integer from 1 to 1000000"},
		{"400 strategy", errorsKey, "cpen/middle", route{"strategy": "fastest"}, 400, "invalid_request_error", "invalid_routing", `routing.strategy must be one of "cheapest", "balanced", "continuity"`},
		{"400 continuity_mode", errorsKey, "cpen/middle", route{"continuity_mode": "sometimes"}, 400, "invalid_request_error", "invalid_routing", `routing.continuity_mode must be one of "stay_within_cap", "temporary_escalation"`},
		{"400 allow flag", errorsKey, "cpen/middle", route{"allow_temporary_high_price": "yes"}, 400, "invalid_request_error", "invalid_routing", "routing.allow_temporary_high_price must be a boolean"},
		{"400 unknown field", errorsKey, "cpen/middle", route{"max_latency_ms": 100}, 400, "invalid_request_error", "invalid_routing", "routing.max_latency_ms is not a known field"},
		{"400 routing not an object", errorsKey, "cpen/middle", "cheap", 400, "invalid_request_error", "invalid_routing", "routing must be an object"},
		{"400 unknown alias", errorsKey, "gpt-4o", nil, 400, "invalid_request_error", "unknown_model", `model "gpt-4o" is not a CPEN alias (use cpen/low, cpen/middle or cpen/high)`},
		{"503 planned tier", errorsKey, "cpen/high", nil, 503, "service_unavailable", "tier_unavailable", "Tier cpen/high is unavailable (planned, or no live route)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := apiError(t, s, tc.key, tc.model, tc.routing)
			if e.StatusCode != tc.status || e.Type != tc.errType || e.Code != tc.code || e.Message != tc.detail {
				t.Errorf("got %d %q %q %q, want %d %q %q %q", e.StatusCode, e.Type, e.Code, e.Message, tc.status, tc.errType, tc.code, tc.detail)
			}
			if d := errorDetail(t, e); d != tc.detail {
				t.Errorf("detail %q, want %q", d, tc.detail)
			}
			if ct := e.Response.Header.Get("content-type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			if st := e.Response.Header.Get("x-cpen-status"); st != "rejected" {
				t.Errorf("x-cpen-status %q", st)
			}
		})
	}
	if n := len(s.provA.Requests()) + len(s.provB.Requests()); n != 0 {
		t.Errorf("rejected requests reached a provider %d times", n)
	}
}

func TestRPMCap(t *testing.T) {
	s := startStack(t)
	r := route{"rpm_cap": 2}
	for i := 0; i < 2; i++ {
		_, got, resp := mustChat(t, s, rpmKey, "cpen/low", r)
		if got["rpm_cap"] != float64(2) || resp.Header.Get("x-ratelimit-remaining-requests") != []string{"1", "0"}[i] {
			t.Errorf("request %d: rpm_cap %v, remaining %q", i, got["rpm_cap"], resp.Header.Get("x-ratelimit-remaining-requests"))
		}
	}
	e := apiError(t, s, rpmKey, "cpen/low", r)
	if e.StatusCode != 429 || e.Type != "rate_limit_error" || e.Code != "rpm_cap_exceeded" || !strings.Contains(e.Message, "routing.rpm_cap") {
		t.Errorf("got %d %q %q %q", e.StatusCode, e.Type, e.Code, e.Message)
	}
	ra := e.Response.Header.Get("retry-after")
	if ra == "" || ra == "0" || e.Response.Header.Get("x-ratelimit-limit-requests") != "2" || e.Response.Header.Get("x-ratelimit-remaining-requests") != "0" {
		t.Errorf("429 headers: %v", e.Response.Header)
	}
	if n := len(s.provA.Requests()) + len(s.provB.Requests()); n != 2 {
		t.Errorf("providers saw %d requests, want 2", n)
	}
}

// What each side sees: the provider its own key and model, never the
// client's key or routing; the client never the provider's model.
func TestWhatEachSideSees(t *testing.T) {
	s := startStack(t)
	// The key also sent as x-api-key, as some SDKs do, must not leak either.
	_, resp, err := chat(t, s, leakKey, "cpen/middle", route{"strategy": "cheapest"}, option.WithHeader("x-api-key", leakKey))
	if err != nil {
		t.Fatal(err)
	}
	// Every other header that can carry a client secret is stripped too.
	secrets := []option.RequestOption{option.WithHeader("x-api-key", leakKey), option.WithHeader("api-key", leakKey),
		option.WithHeader("x-goog-api-key", leakKey), option.WithHeader("proxy-authorization", "Bearer "+leakKey),
		option.WithHeader("cookie", "session="+leakKey)}
	comp2, resp2, err := chat(t, s, leakKey, "cpen/middle", route{"strategy": "cheapest", "min_total_per_1m": "0.30"}, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	a, okA := s.provA.Last()
	b, okB := s.provB.Last()
	if !okA || !okB {
		t.Fatalf("providers saw a=%v b=%v", okA, okB)
	}
	checks := []struct {
		name   string
		req    string
		header string
		value  string
		path   string
		model  string
	}{
		{"provider a (Bearer)", "a", "Authorization", "Bearer " + provAKey, "/v1/chat/completions", "upstream-mini"},
		{"provider b (bare x-api-key, path prefix)", "b", "X-Api-Key", provBKey, "/compat/v1/chat/completions", "upstream-flash"},
	}
	for _, c := range checks {
		r := a
		if c.req == "b" {
			r = b
		}
		if got := r.Header.Get(c.header); got != c.value {
			t.Errorf("%s: %s = %q, want %q", c.name, c.header, got, c.value)
		}
		if r.Path != c.path {
			t.Errorf("%s: path %q, want %q", c.name, r.Path, c.path)
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("%s: body %s: %v", c.name, r.Body, err)
		}
		if body["model"] != c.model {
			t.Errorf("%s: model %v, want %s", c.name, body["model"], c.model)
		}
		if _, has := body["routing"]; has {
			t.Errorf("%s: routing reached the provider", c.name)
		}
		if _, has := body["messages"]; !has {
			t.Errorf("%s: messages lost", c.name)
		}
		all := string(r.Body)
		for k, vs := range r.Header {
			all += k + ": " + strings.Join(vs, ",") + "\n"
		}
		if strings.Contains(all, "cpen_live") {
			t.Errorf("%s: the client key reached the provider:\n%s", c.name, all)
		}
		if r.Header.Get("X-Cpen-Upstream-Cluster") != "" {
			t.Errorf("%s: the cluster header reached the provider", c.name)
		}
	}
	if b.Header.Get("Authorization") != "" {
		t.Errorf("provider b got an Authorization header: %q", b.Header.Get("Authorization"))
	}
	for _, r := range []*http.Response{resp, resp2} {
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, "upstream-") || strings.Contains(v, "prov_") {
					t.Errorf("client saw provider detail in header %s: %s", k, v)
				}
			}
		}
	}
	if raw := comp2.RawJSON(); strings.Contains(raw, "upstream-") || strings.Contains(raw, "prov_") {
		t.Errorf("client saw provider detail in body: %s", raw)
	}
	if logs := s.logs.String(); strings.Contains(logs, leakKey) || strings.Contains(logs, provAKey) || strings.Contains(logs, provBKey) {
		t.Error("a key appears in the sidecar's log")
	}
}

// A provider error keeps its status and body, with the alias and the
// failed route added.
func TestProviderError(t *testing.T) {
	s := startStack(t)
	s.provA.Script(mockReply(429, `{"error":{"message":"slow down on upstream-mini, says prov_a","type":"rate_limit_error","code":"rate_limited"},"model":"upstream-mini","Model":"upstream-mini"}`,
		"Retry-After", "7", "Server", "prov_a-edge/1.2", "Via", "1.1 prov_a-gw", "X-Backend-Model", "upstream-mini"))
	e := apiError(t, s, errorsKey, "cpen/middle", route{"strategy": "cheapest"})
	if e.StatusCode != 429 || e.Message != "slow down on cpen/middle, says provider" || e.Response.Header.Get("retry-after") != "7" ||
		e.Response.Header.Get("x-cpen-status") != "failed" || e.Response.Header.Get("x-cpen-route-id") != "route_mid_01" {
		t.Errorf("got %d %q headers %v", e.StatusCode, e.Message, e.Response.Header)
	}
	dump := string(e.DumpResponse(true))
	if !strings.Contains(dump, `"cpen_status":"failed"`) || !strings.Contains(dump, `"route_id":"route_mid_01"`) ||
		strings.Contains(dump, "upstream-mini") || strings.Contains(dump, "prov_a") || !strings.Contains(dump, `"model":"cpen/middle"`) {
		t.Errorf("error response: %s", dump)
	}
	for _, h := range []string{"Server", "Via", "X-Backend-Model"} {
		if v := e.Response.Header.Get(h); v != "" {
			t.Errorf("the provider's %s header reached the client: %q", h, v)
		}
	}
}
