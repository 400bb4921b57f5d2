package standin

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// namedProcessor answers every stream's request headers with a 200 whose
// body is its name, so the client sees which endpoint served it.
type namedProcessor struct {
	extprocv3.UnimplementedExternalProcessorServer
	name string
}

var _ extprocv3.ExternalProcessorServer = (*namedProcessor)(nil)

func (n *namedProcessor) Process(s extprocv3.ExternalProcessor_ProcessServer) error {
	if _, err := s.Recv(); err != nil {
		return nil
	}
	return s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_OK},
			Body:   []byte(n.name),
		},
	}})
}

// endpoint is one fake ext_proc replica with a health service.
type endpoint struct {
	addr   string
	health *health.Server
}

func startEndpoint(t *testing.T, name string) endpoint {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, &namedProcessor{name: name})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Stop(); <-served })
	return endpoint{addr: l.Addr().String(), health: hs}
}

// waitHealth waits until the cluster's health flags equal want, in
// endpoint order; the checker decides asynchronously.
func waitHealth(t *testing.T, p *Proxy, want ...bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		eps := p.Endpoints()
		same := len(eps) == len(want)
		for i := range eps {
			same = same && eps[i].Healthy == want[i]
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints %+v, want health %v", eps, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// served sends n requests and counts the answers by endpoint name.
func served(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		resp, err := http.Get(url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d body %q", resp.StatusCode, b)
		}
		got[string(b)]++
	}
	return got
}

func TestClusterRoundRobinAndHealth(t *testing.T) {
	a, b := startEndpoint(t, "a"), startEndpoint(t, "b")
	p, err := New(Config{
		ExtProcAddr:   a.addr,
		ExtProcAddrs:  []string{b.addr},
		HealthCheck:   &HealthCheck{Interval: 20 * time.Millisecond, UnhealthyThreshold: 3, HealthyThreshold: 2},
		ClusterHeader: "x-cluster",
	})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); _ = p.Close() })

	waitHealth(t, p, true, true)
	if got := served(t, front.URL, 10); got["a"] != 5 || got["b"] != 5 {
		t.Errorf("both healthy: %v, want 5 each", got)
	}

	// NOT_SERVING is an answer from the host: unhealthy at the next check,
	// whatever UnhealthyThreshold says.
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitHealth(t, p, false, true)
	if got := served(t, front.URL, 6); got["b"] != 6 {
		t.Errorf("a NOT_SERVING: %v, want all 6 on b", got)
	}

	// Under half healthy, Envoy's panic threshold spreads over every host.
	b.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitHealth(t, p, false, false)
	if got := served(t, front.URL, 4); got["a"] != 2 || got["b"] != 2 {
		t.Errorf("none healthy: %v, want 2 each", got)
	}

	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	waitHealth(t, p, true, false)
	if got := served(t, front.URL, 4); got["a"] != 4 {
		t.Errorf("a back: %v, want all 4 on a", got)
	}
	eps := p.Endpoints()
	if eps[0].Streams+eps[1].Streams != 24 {
		t.Errorf("streams %+v, want 24 in all", eps)
	}
}

func TestClusterOneEndpointNeedsNoHealth(t *testing.T) {
	a := startEndpoint(t, "a")
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	p, err := New(Config{ExtProcAddr: a.addr, ClusterHeader: "x-cluster"})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); _ = p.Close() })
	// Without health_checks the health service is never asked.
	if got := served(t, front.URL, 2); got["a"] != 2 {
		t.Errorf("%v, want 2 on a", got)
	}
	if eps := p.Endpoints(); len(eps) != 1 || !eps[0].Healthy || eps[0].Streams != 2 {
		t.Errorf("endpoints %+v", eps)
	}
}

func TestClusterConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"empty extra endpoint", Config{ExtProcAddr: "127.0.0.1:1", ExtProcAddrs: []string{""}, ClusterHeader: "x"}},
		{"no interval", Config{ExtProcAddr: "127.0.0.1:1", HealthCheck: &HealthCheck{}, ClusterHeader: "x"}},
		{"negative threshold", Config{ExtProcAddr: "127.0.0.1:1", HealthCheck: &HealthCheck{Interval: time.Second, HealthyThreshold: -1}, ClusterHeader: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := New(tc.cfg); err == nil {
				_ = p.Close()
				t.Fatal("New accepted the config")
			}
		})
	}
}
