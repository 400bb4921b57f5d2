package tests

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrainBudget: in mode gateway Envoy's preStop drains for drainDelay + drainTimeout (its
// listener accepting for drainDelay) and the sidecar, stopped after Envoy, drains for drainDelay
// more; the grace period covers that plus 10 s unless set, and a value set must exceed it.
func TestDrainBudget(t *testing.T) {
	tests := []struct {
		name       string
		files      []string
		set        []string
		grace      int64
		sleep      string // the preStop's sleep, mode gateway only
		drainTimeS string // Envoy's --drain-time-s, mode gateway only
	}{
		{"gateway defaults", nil, nil, 35, "sleep 20", "5"},
		{"gateway, short delay, long timeout", nil, []string{"extproc.drainDelay=2s", "extproc.drainTimeout=30s"}, 44, "sleep 32", "2"},
		{"gateway, grace set above the drain", nil, []string{"terminationGracePeriodSeconds=26"}, 26, "sleep 20", "5"},
		{"extproc defaults", nil, []string{"mode=extproc"}, 30, "", ""},
		{"extproc file (10s, 30s)", []string{"testdata/extproc.yaml"}, nil, 50, "", ""},
		{"extproc, grace set", nil, []string{"mode=extproc", "terminationGracePeriodSeconds=21"}, 21, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := routerPod(t, renderSet(t, tt.files, tt.set...)).Spec
			if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds != tt.grace {
				t.Errorf("terminationGracePeriodSeconds %v, want %d", spec.TerminationGracePeriodSeconds, tt.grace)
			}
			if tt.sleep == "" {
				return
			}
			env := container(t, spec, "envoy")
			cmd := env.Lifecycle.PreStop.Exec.Command
			if got := cmd[len(cmd)-1]; len(got) < len(tt.sleep) || got[len(got)-len(tt.sleep)-2:] != "; "+tt.sleep {
				t.Errorf("preStop %q, want it to end with %q", got, tt.sleep)
			}
			i := slices.Index(env.Args, "--drain-time-s")
			if i < 0 || i+1 >= len(env.Args) || env.Args[i+1] != tt.drainTimeS {
				t.Errorf("envoy args %q, want --drain-time-s %s", env.Args, tt.drainTimeS)
			}
		})
	}
}

// fakeAdmin stands in for Envoy's admin interface: /ready answers with the status set, and every
// request is recorded.
type fakeAdmin struct {
	ready atomic.Int32
	mu    sync.Mutex
	seen  []string // "METHOD URI host=HOST"
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.RequestURI+" host="+r.Host)
	f.mu.Unlock()
	switch r.URL.Path {
	case "/ready":
		w.WriteHeader(int(f.ready.Load()))
	case "/drain_listeners":
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeAdmin) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// TestEnvoyAdminScripts runs the Envoy container's probe and preStop commands, as rendered, with
// bash against a stand-in admin interface: readiness passes only on 200 from /ready, liveness on any
// HTTP answer, and the preStop POSTs /drain_listeners?graceful.
func TestEnvoyAdminScripts(t *testing.T) {
	lis := listenAvoiding(t, 10000, 9902)
	admin := &fakeAdmin{}
	srv := &http.Server{Handler: admin, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := lis.Addr().(*net.TCPAddr).Port

	env := container(t, routerPod(t, renderSet(t, nil, "envoy.adminPort="+strconv.Itoa(port),
		"extproc.drainDelay=0s", "extproc.drainTimeout=0s")).Spec, "envoy")
	ready := env.ReadinessProbe.Exec.Command
	live := env.LivenessProbe.Exec.Command
	preStop := env.Lifecycle.PreStop.Exec.Command

	run := func(cmd []string) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, cmd[0], cmd[1:]...).Run()
	}

	admin.ready.Store(http.StatusOK)
	if err := run(ready); err != nil {
		t.Errorf("readiness with /ready 200: %v, want success", err)
	}
	if err := run(live); err != nil {
		t.Errorf("liveness with /ready 200: %v, want success", err)
	}
	admin.ready.Store(http.StatusServiceUnavailable)
	if err := run(ready); err == nil {
		t.Error("readiness with /ready 503 succeeded, want failure")
	}
	if err := run(live); err != nil {
		t.Errorf("liveness with /ready 503: %v, want success (Envoy answers, it is alive)", err)
	}
	if err := run(preStop); err != nil {
		t.Errorf("preStop: %v", err)
	}
	host := "host=127.0.0.1"
	want := []string{
		"GET /ready " + host, "GET /ready " + host, "GET /ready " + host, "GET /ready " + host,
		"POST /drain_listeners?graceful " + host,
	}
	if got := admin.requests(); !slices.Equal(got, want) {
		t.Errorf("admin saw %q, want %q", got, want)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-served
	if err := run(ready); err == nil {
		t.Error("readiness with no admin listening succeeded")
	}
	if err := run(live); err == nil {
		t.Error("liveness with no admin listening succeeded")
	}
	if err := run(preStop); err != nil {
		t.Errorf("preStop with no admin listening: %v, want it to carry on to its wait", err)
	}
}

// listenAvoiding listens on a free loopback port other than the given ones (ports the chart's
// other listeners use, which would clash with the admin port in the pod).
func listenAvoiding(t *testing.T, avoid ...int) net.Listener {
	t.Helper()
	for {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(avoid, lis.Addr().(*net.TCPAddr).Port) {
			return lis
		}
		_ = lis.Close()
	}
}
