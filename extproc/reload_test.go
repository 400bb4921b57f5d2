package extproc

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/cpen/router/config"
	"github.com/cpen/router/selector/state"
)

// cheapestRequest goes to route_mid_01 (visible total 0.28 USD per 1M)
// while it can take it, then to route_mid_02 (0.32), then to route_mid_03
// (0.324).
var cheapestRequest = withRouting(`{"strategy":"cheapest"}`)

// testCatalog is the text of testdata/catalog.yaml, for tests to edit.
func testCatalog(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// mustReplace replaces the one occurrence of old in s.
func mustReplace(t *testing.T, s, old, with string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("catalog edit: %q occurs %d times", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, with, 1)
}

// withKeyAdded adds a key and changes nothing else.
func withKeyAdded(t *testing.T, cat string) string {
	t.Helper()
	return cat + `  - id: key_added
    sha256: "0000000000000000000000000000000000000000000000000000000000000001"
    account: acct_added
`
}

// routeMid01 is route_mid_01's entry in testdata/catalog.yaml.
const routeMid01 = `  - id: route_mid_01
    tier: middle
    provider: prov_a
    model: upstream-mini
    model_family: gpt-mini-or-flash-class
    input_per_1m: "0.04"
    output_per_1m: "0.24"
`

// withMid01Moved moves route_mid_01 after every other route (so its index
// changes) and adds a fourth middle route ahead of it, dearer than the
// other three (visible total 0.34).
func withMid01Moved(t *testing.T, cat string) string {
	t.Helper()
	cat = mustReplace(t, cat, routeMid01, "")
	return mustReplace(t, cat, "keys:\n", `  - id: route_mid_04
    tier: middle
    provider: prov_a
    model: upstream-large
    model_family: large
    input_per_1m: "0.08"
    output_per_1m: "0.26"
`+routeMid01+"keys:\n")
}

// apply loads a catalog text and applies it to s.
func apply(t *testing.T, s *Server, yaml string) {
	t.Helper()
	c, err := config.Load([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(c); err != nil {
		t.Fatal(err)
	}
}

// routeOf is the route a finished exchange names in its response body.
func routeOf(t *testing.T, out []*extprocv3.ProcessingResponse) string {
	t.Helper()
	var body struct {
		Route struct {
			ID string `json:"route_id"`
		} `json:"cpen_route"`
	}
	raw := out[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody()
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("response body %q: %v", raw, err)
	}
	return body.Route.ID
}

// upstreamModel is the model a routed request is sent upstream with.
func upstreamModel(t *testing.T, out []*extprocv3.ProcessingResponse) string {
	t.Helper()
	var body struct {
		Model string `json:"model"`
	}
	raw := out[1].GetRequestBody().GetResponse().GetBodyMutation().GetBody()
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("request body %q: %v", raw, err)
	}
	return body.Model
}

// ejectMid01 fails route_mid_01 once, which ejects it for state.EjectBase.
func ejectMid01(t *testing.T, s *Server) {
	t.Helper()
	out := routed(t, s, cheapestRequest, respHeaders("503", "application/json"), respBody(`{"error":{"message":"overloaded"}}`))
	if got := routeOf(t, out); got != "route_mid_01" {
		t.Fatalf("failure served by %s, want route_mid_01", got)
	}
}

// serveOK sends cheapestRequest, answers it 200 and returns its route.
func serveOK(t *testing.T, s *Server) string {
	t.Helper()
	return routeOf(t, routed(t, s, cheapestRequest, respHeaders("200", "application/json"), respBody(providerAnswer)))
}

// A route ejected by a 503 answer stays ejected through a reload,
// whether the reload only adds a key or moves the route to another index,
// and comes back when its ejection ends, not earlier nor later.
func TestEjectionSurvivesReload(t *testing.T) {
	for _, tc := range []struct {
		name       string
		edit       func(*testing.T, string) string
		candidates int // live cpen/middle routes after the reload
	}{
		{"a key added", withKeyAdded, 2},
		{"route moved and one added", withMid01Moved, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newTestServer(t, "testdata/catalog.yaml")
			ejectMid01(t, s)
			if got := middleCandidates(t, s); got != 2 {
				t.Fatalf("before the reload cpen/middle has %d live routes, want 2", got)
			}
			apply(t, s, tc.edit(t, testCatalog(t)))
			if got := middleCandidates(t, s); got != tc.candidates {
				t.Errorf("after the reload cpen/middle has %d live routes, want %d", got, tc.candidates)
			}
			if got := serveOK(t, s); got != "route_mid_02" {
				t.Errorf("after the reload served by %s, want route_mid_02", got)
			}
			clk.t = clk.t.Add(state.EjectBase - time.Nanosecond)
			if got := serveOK(t, s); got != "route_mid_02" {
				t.Errorf("just before the ejection ends served by %s, want route_mid_02", got)
			}
			clk.t = clk.t.Add(time.Nanosecond)
			if got := serveOK(t, s); got != "route_mid_01" {
				t.Errorf("once the ejection ended served by %s, want route_mid_01", got)
			}
		})
	}
}

// A route's provider RPM window is not emptied by a reload.
func TestRouteWindowSurvivesReload(t *testing.T) {
	cat := mustReplace(t, testCatalog(t), routeMid01, routeMid01+"    rpm_limit: 1\n")
	s, clk := newTestServer(t, "testdata/catalog.yaml")
	apply(t, s, cat)
	if got := upstreamModel(t, run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(cheapestRequest))); got != "upstream-mini" {
		t.Fatalf("first request sent as %q, want upstream-mini (route_mid_01)", got)
	}
	apply(t, s, withKeyAdded(t, cat))
	clk.t = clk.t.Add(state.Window - time.Nanosecond)
	if got := upstreamModel(t, run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(cheapestRequest))); got != "upstream-flash" {
		t.Errorf("within the minute after the reload sent as %q, want upstream-flash (route_mid_02: route_mid_01 is at its limit)", got)
	}
	clk.t = clk.t.Add(time.Nanosecond)
	if got := upstreamModel(t, run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(cheapestRequest))); got != "upstream-mini" {
		t.Errorf("a minute after the first request sent as %q, want upstream-mini", got)
	}
}

// stepStream is a stream the test drives one message at a time, so that a
// request can be left open across a reload.
type stepStream struct {
	grpc.ServerStream
	in  chan *extprocv3.ProcessingRequest
	out chan *extprocv3.ProcessingResponse
}

func (s *stepStream) Context() context.Context { return context.Background() }

func (s *stepStream) Recv() (*extprocv3.ProcessingRequest, error) {
	r, ok := <-s.in
	if !ok {
		return nil, io.EOF
	}
	return r, nil
}

func (s *stepStream) Send(r *extprocv3.ProcessingResponse) error {
	s.out <- proto.Clone(r).(*extprocv3.ProcessingResponse)
	return nil
}

// openRequest routes a request and leaves its stream waiting for the
// provider's answer; the returned function answers it and ends the stream,
// returning the route the answer names.
func openRequest(t *testing.T, s *Server) (answer func(status string) string) {
	t.Helper()
	st := &stepStream{in: make(chan *extprocv3.ProcessingRequest), out: make(chan *extprocv3.ProcessingResponse, 4)}
	done := make(chan error, 1)
	go func() { done <- s.Process(st) }()
	// A test that stops early must still end the stream, or closing the
	// server would wait for it forever.
	ended := false
	end := func() {
		if !ended {
			ended = true
			close(st.in)
		}
	}
	t.Cleanup(end)
	var out []*extprocv3.ProcessingResponse
	step := func(m *extprocv3.ProcessingRequest) {
		st.in <- m
		out = append(out, <-st.out)
	}
	step(reqHeaders("/v1/chat/completions", seedKey))
	step(reqBody(cheapestRequest))
	if out[1].GetRequestBody() == nil {
		t.Fatalf("request not routed: %v", out[1])
	}
	return func(status string) string {
		t.Helper()
		step(respHeaders(status, "application/json"))
		step(respBody(providerAnswer))
		end()
		if err := <-done; err != nil {
			t.Fatalf("Process: %v", err)
		}
		return routeOf(t, out)
	}
}

// Requests routed before a reload and answered after it report to the
// catalog version they began under; their failures still eject the route
// in the version now in force.
func TestInFlightFailuresEjectAfterReload(t *testing.T) {
	s, _ := newTestServer(t, "testdata/catalog.yaml")
	var open []func(string) string
	for range 3 {
		open = append(open, openRequest(t, s))
	}
	apply(t, s, withMid01Moved(t, testCatalog(t)))
	if got := middleCandidates(t, s); got != 4 {
		t.Fatalf("after the reload cpen/middle has %d live routes, want 4", got)
	}
	for i, answer := range open {
		if got := answer("503"); got != "route_mid_01" {
			t.Fatalf("open request %d was served by %s, want route_mid_01", i, got)
		}
	}
	if got := middleCandidates(t, s); got != 3 {
		t.Errorf("after %d failures begun before the reload cpen/middle has %d live routes, want 3", len(open), got)
	}
}

// servedSeries is cpen_requests_served_total for the given routes, each
// with its count of 2xx answers and zero elsewhere.
func servedSeries(routes ...struct {
	id  string
	ok2 int
}) string {
	var b strings.Builder
	b.WriteString("# HELP cpen_requests_served_total Requests routed to a provider, by route and upstream status class.\n" +
		"# TYPE cpen_requests_served_total counter\n")
	for _, r := range routes {
		for _, class := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "none"} {
			n := 0
			if class == "2xx" {
				n = r.ok2
			}
			b.WriteString(`cpen_requests_served_total{route_id="` + r.id + `",status_class="` + class + `"} ` + itoa(n) + "\n")
		}
	}
	return b.String()
}

// A reload that removes a route deletes its served series, even while a
// request begun on it is still finishing; the routes it keeps keep their
// counts, and a route brought back starts from zero.
func TestReloadDeletesRemovedRouteSeries(t *testing.T) {
	type series = struct {
		id  string
		ok2 int
	}
	reg := prometheus.NewRegistry()
	cat := testCatalog(t)
	env := map[string]string{"PROV_A_KEY": "sk-prov-a", "PROV_B_KEY": "sk-prov-b"}
	s := NewServer(zap.NewNop(), NewMetrics(reg), WithEnv(func(k string) string { return env[k] }, os.ReadFile))
	t.Cleanup(s.Close)
	apply(t, s, cat)
	if got := serveOK(t, s); got != "route_mid_01" {
		t.Fatalf("served by %s, want route_mid_01", got)
	}
	answer := openRequest(t, s)

	apply(t, s, mustReplace(t, cat, routeMid01, ""))
	if got := answer("200"); got != "route_mid_01" {
		t.Fatalf("the open request was served by %s, want route_mid_01", got)
	}
	if got := serveOK(t, s); got != "route_mid_02" {
		t.Fatalf("served by %s, want route_mid_02", got)
	}
	want := servedSeries(series{"route_low_01", 0}, series{"route_mid_02", 1}, series{"route_mid_03", 0})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cpen_requests_served_total"); err != nil {
		t.Errorf("after route_mid_01 was removed: %v", err)
	}

	apply(t, s, cat)
	want = servedSeries(series{"route_low_01", 0}, series{"route_mid_01", 0}, series{"route_mid_02", 1}, series{"route_mid_03", 0})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cpen_requests_served_total"); err != nil {
		t.Errorf("after route_mid_01 came back: %v", err)
	}
}
