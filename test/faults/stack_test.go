package faults

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/standin"
)

// providers are the two mock upstreams of the catalog.
type providers struct {
	a, b     *mockprovider.Provider
	clusters map[string]string
}

func startProviders(t *testing.T) providers {
	t.Helper()
	p := providers{a: mockprovider.New("a"), b: mockprovider.New("b")}
	srvA, srvB := httptest.NewServer(p.a), httptest.NewServer(p.b)
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	p.clusters = map[string]string{"mock_a": srvA.URL, "mock_b": srvB.URL}
	return p
}

// front starts the stand-in over the given ext_proc endpoints with the
// project's settings and a 100 ms gRPC health check, and returns it with
// its base URL.
func front(t *testing.T, p providers, grpcAddrs ...string) (*standin.Proxy, string) {
	t.Helper()
	cfg := standin.ProjectConfig(grpcAddrs[0], p.clusters)
	cfg.ExtProcAddrs = grpcAddrs[1:]
	cfg.HealthCheck = &standin.HealthCheck{Interval: 100 * time.Millisecond, Timeout: time.Second, UnhealthyThreshold: 2, HealthyThreshold: 1}
	proxy, err := standin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() { srv.Close(); _ = proxy.Close() })
	waitEndpoints(t, proxy, true)
	return proxy, srv.URL
}

// waitEndpoints waits until every endpoint's health is want.
func waitEndpoints(t *testing.T, p *standin.Proxy, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, e := range p.Endpoints() {
			all = all && e.Healthy == want
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints %+v never all healthy=%v", p.Endpoints(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runWith runs l with workers in the background; stop ends the load and
// waits for the workers.
func runWith(l *load, workers int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx, workers) }()
	return func() { cancel(); <-done }
}

// record adds the row to the table, logs it and fails on lost requests.
func record(t *testing.T, l *load, scenario string) row {
	t.Helper()
	r := l.row(scenario)
	results.add(r)
	t.Logf("%s: sent %d, succeeded %d, refused %s, lost %d, p99 %v", scenario, r.Sent, r.Succeeded, refusals(r.Refused), r.Lost, r.P99)
	if r.Lost != 0 {
		t.Errorf("%s: %d requests lost, e.g. %q", scenario, r.Lost, l.lostSamples())
	}
	if r.Succeeded == 0 && scenario != "hostile inputs" {
		t.Errorf("%s: no request succeeded", scenario)
	}
	return r
}

// waitUntil polls cond within a deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
