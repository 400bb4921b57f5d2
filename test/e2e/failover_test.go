package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/redistest"
)

// With one of cpen/middle's three routes failing every request, clients
// on the OpenAI SDK's default retries (two, on 5xx and 429) still get
// their answers: the route is ejected by its first failure, so the retry
// lands on another route within the cap, and while the route keeps
// failing its ejection doubles, so it costs fewer and fewer requests.
func TestFailoverWithSDKRetries(t *testing.T) {
	const (
		requests = 1000
		workers  = 8
	)
	s := startStack(t)
	s.provA.FailModel("upstream-mini", true) // route_mid_01, the cheapest
	// Default retries: only the base URL and the key are set. Three keys
	// keep each under its 600 requests a minute.
	var clients []openai.Client
	for _, key := range []string{strategyKey, errorsKey, leakKey} {
		clients = append(clients, openai.NewClient(option.WithBaseURL(s.url+"/v1/"), option.WithAPIKey(key)))
	}
	runCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	jobs := make(chan int)
	var ok, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				_, err := clients[i%len(clients)].Chat.Completions.New(runCtx, openai.ChatCompletionNewParams{
					Model:    "cpen/middle",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tag: refund request.")},
				}, option.WithJSONSet("routing", route{"strategy": "cheapest"}))
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { t.Logf("first failed request: %v", err) })
					continue
				}
				ok.Add(1)
			}
		})
	}
	for i := range requests {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	provider500s := 0
	for _, r := range s.provA.Requests() {
		if bytes.Contains(r.Body, []byte(`"upstream-mini"`)) {
			provider500s++
		}
	}
	rate := float64(ok.Load()) / requests
	t.Logf("%d of %d requests succeeded (%.2f %%), %d failed; route_mid_01 answered %d provider 500s; %v with %d workers",
		ok.Load(), requests, 100*rate, failed.Load(), provider500s, elapsed.Round(time.Millisecond), workers)
	if ok.Load()*1000 < requests*999 {
		t.Errorf("success rate %.2f %%, want at least 99.9 %%", 100*rate)
	}
	if provider500s == 0 {
		t.Error("route_mid_01 was never tried: the failure was not exercised")
	}
	// The back-off doubles: over the run the failing route is tried at most
	// once per back-off step (1s, 2s, 4s, ... from its first failure) plus
	// the requests in flight when it failed, never once per request.
	if maxTries := workers * (1 + int(elapsed/time.Second)); provider500s > maxTries {
		t.Errorf("route_mid_01 tried %d times in %v, want at most %d", provider500s, elapsed, maxTries)
	}
}

// Two replicas on one Redis share route health: a failure answered
// through replica A, with the provider's Retry-After, ejects the route on
// replica B within about a second (B refreshes others' ejections once a
// second), and B's next request goes to another route.
func TestSharedHealthAcrossReplicas(t *testing.T) {
	r := redistest.Start(t)
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	cat := writeCatalog(t)
	a := startSidecar(t, cat, "--redis-addr", r.Addr)
	b := startSidecar(t, cat, "--redis-addr", r.Addr)
	urlA, urlB := s.front(a), s.front(b)
	cheapest := route{"strategy": "cheapest"}
	send := func(url string) (map[string]any, error) {
		t.Helper()
		c := sdkClient(url, strategyKey)
		comp, err := c.Chat.Completions.New(ctx(t), openai.ChatCompletionNewParams{
			Model:    "cpen/middle",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tag: refund request.")},
		}, option.WithJSONSet("routing", cheapest))
		if err != nil {
			return nil, err
		}
		return cpenRoute(t, comp), nil
	}
	if got, err := send(urlB); err != nil || got["route_id"] != "route_mid_01" {
		t.Fatalf("B before any failure: %v %v, want route_mid_01", got, err)
	}

	s.provA.Script(mockprovider.Reply{Status: 503,
		Header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"30"}},
		Body:   []byte(`{"error":{"message":"overloaded","type":"server_error"}}`)})
	var apiErr *openai.Error
	if _, err := send(urlA); err == nil || !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Fatalf("A's request to the failing route: %v, want 503", err)
	}
	failedAt := time.Now()
	if got := middleCandidates(t, urlA); got != 2 {
		t.Fatalf("A counts %d cpen/middle candidates after the failure, want 2", got)
	}
	// B learns of the ejection on its next refresh.
	deadline := failedAt.Add(5 * time.Second)
	for middleCandidates(t, urlB) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("B still counts route_mid_01 live 5 s after A ejected it")
		}
	}
	took := time.Since(failedAt)
	t.Logf("B saw A's ejection after %v", took.Round(time.Millisecond))
	if took > 2500*time.Millisecond {
		t.Errorf("B took %v to see A's ejection, want about a second", took)
	}
	if got, err := send(urlB); err != nil || got["route_id"] == "route_mid_01" {
		t.Errorf("B after A's ejection: %v %v, want another route than route_mid_01", got, err)
	}
}

// middleCandidates reads cpen/middle's live candidates from the public
// route status of the sidecar behind url.
func middleCandidates(t *testing.T, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, url+"/v1/status/routes", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Tiers []struct {
			Alias      string `json:"alias"`
			Candidates int    `json:"candidates"`
		} `json:"tiers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("route status: %v", err)
	}
	for _, tier := range body.Tiers {
		if strings.EqualFold(tier.Alias, "cpen/middle") {
			return tier.Candidates
		}
	}
	t.Fatal("route status has no cpen/middle")
	return 0
}
