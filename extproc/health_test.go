package extproc

import (
	"context"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/cpen/router/config"
)

// gRPC health follows readiness: NOT_SERVING before a catalog, SERVING
// once one can route, NOT_SERVING from the start of draining; a watcher is
// told of each change when it happens, and its stream ends at Shutdown.
func TestGRPCHealthFollowsReadiness(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	env := map[string]string{"PROV_A_KEY": "sk-prov-a", "PROV_B_KEY": "sk-prov-b"}
	srv := NewServer(zap.NewNop(), nil, WithClock(clk.now), WithEnv(func(k string) string { return env[k] }, os.ReadFile))
	t.Cleanup(srv.Close)
	hs := newGRPCHealth(srv)
	hs.recheck = time.Hour // every change below must arrive by its signal

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	defer func() {
		gs.Stop()
		<-served
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	check := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		if resp.GetStatus() != want {
			t.Errorf("Check(%q) = %v, want %v", service, resp.GetStatus(), want)
		}
	}
	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	next := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		if resp.GetStatus() != want {
			t.Errorf("Watch sent %v, want %v", resp.GetStatus(), want)
		}
	}

	next(healthpb.HealthCheckResponse_NOT_SERVING)
	check("", healthpb.HealthCheckResponse_NOT_SERVING)

	cat, err := config.LoadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Apply(cat); err != nil {
		t.Fatal(err)
	}
	next(healthpb.HealthCheckResponse_SERVING)
	check("", healthpb.HealthCheckResponse_SERVING)
	check("envoy.service.ext_proc.v3.ExternalProcessor", healthpb.HealthCheckResponse_SERVING)
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check of an unknown service: %v, want NotFound", err)
	}

	srv.StartDraining()
	next(healthpb.HealthCheckResponse_NOT_SERVING)
	check("", healthpb.HealthCheckResponse_NOT_SERVING)

	hs.Shutdown()
	if _, err := watch.Recv(); err != io.EOF {
		t.Errorf("Watch after Shutdown: %v, want EOF", err)
	}
}
