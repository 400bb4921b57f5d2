package load_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/cpen/router/test/bench/load"
	"github.com/cpen/router/test/bench/noop"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startNoop serves the no-op ext_proc server in-process on a loopback port.
func startNoop(t *testing.T, srv extprocv3.ExternalProcessorServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(noop.MaxMessage), grpc.MaxSendMsgSize(noop.MaxMessage))
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	done := make(chan error, 1)
	go func() { done <- gs.Serve(l) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

func TestRunAgainstNoop(t *testing.T) {
	addr := startNoop(t, noop.NewServer())
	res, err := load.Run(context.Background(), load.Config{
		Target: addr, Conns: 2, Concurrency: 4,
		Warmup: 100 * time.Millisecond, Duration: time.Second,
		PID: os.Getpid(), Key: load.DefaultKey,
		ReqBody: load.DefaultRequest(), RespBody: load.DefaultResponse(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("%d errors; first: %s", res.Errors, res.FirstError)
	}
	if res.Exchanges < 10 {
		t.Fatalf("only %d exchanges in a second", res.Exchanges)
	}
	if res.Concurrency != 4 || res.Window < time.Second {
		t.Errorf("concurrency %d, window %v", res.Concurrency, res.Window)
	}
	l := res.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("percentiles out of order: %+v", l)
	}
	if res.Server == nil || res.Server.PID != os.Getpid() || res.Server.RSS <= 0 || res.Server.Peak < res.Server.RSS {
		t.Errorf("server stats %+v", res.Server)
	}
	// In-process, the "server" and the generator are the same process.
	if res.Server.CPU <= 0 || res.GenCPU <= 0 {
		t.Errorf("no CPU measured: server %v, generator %v", res.Server.CPU, res.GenCPU)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Error(err)
	}
}

// rejecter answers every request with an ImmediateResponse.
type rejecter struct {
	extprocv3.UnimplementedExternalProcessorServer
}

func (rejecter) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	if _, err := stream.Recv(); err != nil {
		return nil
	}
	return stream.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{Body: []byte(`{"error":"no"}`)},
	}})
}

func TestImmediateResponseIsAnError(t *testing.T) {
	addr := startNoop(t, rejecter{})
	c, err := load.Dial(addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := load.NewMessages(load.DefaultKey, load.DefaultRequest(), load.DefaultResponse())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Exchange(ctx, m); !errors.Is(err, load.ErrImmediate) {
		t.Fatalf("err = %v, want ErrImmediate", err)
	}
}

func TestDriveCountsErrors(t *testing.T) {
	boom := errors.New("boom")
	res, err := load.Drive(context.Background(), load.DriveConfig{Concurrency: 2, Duration: 50 * time.Millisecond},
		func(context.Context, int) (time.Duration, error) { return 0, boom })
	if !errors.Is(err, load.ErrNoExchanges) {
		t.Fatalf("err = %v, want ErrNoExchanges", err)
	}
	if res.Errors == 0 || res.FirstError != "boom" {
		t.Fatalf("errors %d, first %q", res.Errors, res.FirstError)
	}
}

func TestDriveStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := load.Drive(ctx, load.DriveConfig{Concurrency: 2, Duration: time.Hour},
		func(ctx context.Context, _ int) (time.Duration, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
