package e2e

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/redistest"
)

// redisHealth is the cpen.redis health service's status on a sidecar.
func redisHealth(t *testing.T, sc *sidecar) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	cc, err := grpc.NewClient(sc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx(t), &healthpb.HealthCheckRequest{Service: "cpen.redis"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetStatus()
}

func readyz(t *testing.T, sc *sidecar) (int, string) {
	t.Helper()
	resp, err := http.Get(sc.adminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A hung Redis (SIGSTOP), then back: with --redis-failure-mode open a key
// without credit is served on the replica's own window and a key with
// credit gets 503 state_unavailable; with closed both get it. Health says
// degraded meanwhile, and both modes return to normal by themselves.
func TestRedisFailureModes(t *testing.T) {
	r := redistest.Start(t)
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	cat := creditCatalog(t, "1")
	open := startSidecar(t, cat, "--redis-addr", r.Addr, "--redis-failure-mode", "open")
	closed := startSidecar(t, cat, "--redis-addr", r.Addr, "--redis-failure-mode", "closed")
	urls := map[string]string{"open": s.front(open), "closed": s.front(closed)}
	body := cheapestMiddle("hello", 10)
	code := func(mode, key string) (int, string) {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		status, _, v, err := tryChat(c, urls[mode], key, body)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := v["error"].(map[string]any)
		codeName, _ := e["code"].(string)
		return status, codeName
	}
	for mode := range urls {
		if st, c := code(mode, seedKey); st != 200 {
			t.Fatalf("%s, Redis up: %d %s", mode, st, c)
		}
	}

	r.Pause()
	start := time.Now()
	want := map[string]map[string]string{
		"open":   {seedKey: "200", creditKey: "503 state_unavailable"},
		"closed": {seedKey: "503 state_unavailable", creditKey: "503 state_unavailable"},
	}
	for range 3 {
		for mode, keys := range want {
			for key, w := range keys {
				st, c := code(mode, key)
				if g := strings.TrimSpace(strconv.Itoa(st) + " " + c); g != w {
					t.Errorf("%s mode, %s, Redis hung: %s, want %s", mode, key, g, w)
				}
			}
		}
	}
	// 12 requests: the first per replica waits out the 50 ms timeout, the
	// breaker answers the rest at once.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("12 requests with Redis hung took %v", d)
	}
	for _, sc := range []*sidecar{open, closed} {
		if st := redisHealth(t, sc); st != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("cpen.redis health %v while Redis hangs", st)
		}
		if st, b := readyz(t, sc); st != 200 || !strings.Contains(b, "degraded") {
			t.Errorf("/readyz %d %q while Redis hangs", st, b)
		}
	}

	r.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := code("closed", seedKey)
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("closed mode still %d 10 s after Redis came back", st)
		}
		time.Sleep(100 * time.Millisecond) // the breaker probes once a second
	}
	if st, c := code("open", creditKey); st != 200 {
		t.Errorf("credit after Redis came back: %d %s", st, c)
	}
	for _, sc := range []*sidecar{open, closed} {
		if st := redisHealth(t, sc); st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("cpen.redis health %v after Redis came back", st)
		}
	}
	if !strings.Contains(closed.logs.String(), "redis unavailable") || !strings.Contains(closed.logs.String(), "redis answers again") {
		t.Errorf("the transitions are not logged:\n%s", closed.logs.String())
	}
}
