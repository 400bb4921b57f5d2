package load_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpen/router/test/bench/load"
	"github.com/cpen/router/test/bench/noop"
)

func TestDriveRequestsRunsExactlyThatMany(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		requests    int64
	}{
		{"fewer than workers", 8, 3},
		{"one worker", 1, 17},
		{"many per worker", 4, 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			res, err := load.Drive(context.Background(), load.DriveConfig{Concurrency: tt.concurrency, Requests: tt.requests},
				func(context.Context, int) (time.Duration, error) {
					calls.Add(1)
					return time.Microsecond, nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if got := calls.Load(); got != tt.requests {
				t.Errorf("%d exchanges run, want %d", got, tt.requests)
			}
			if res.Exchanges != tt.requests || res.Errors != 0 {
				t.Errorf("result: %d exchanges, %d errors; want %d, 0", res.Exchanges, res.Errors, tt.requests)
			}
		})
	}
}

// Failed exchanges use up the count too: the server did work for them.
func TestDriveRequestsCountsFailures(t *testing.T) {
	var calls atomic.Int64
	res, err := load.Drive(context.Background(), load.DriveConfig{Concurrency: 3, Requests: 30},
		func(context.Context, int) (time.Duration, error) {
			if calls.Add(1)%3 == 0 {
				return 0, errors.New("boom")
			}
			return time.Microsecond, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 30 || res.Exchanges != 20 || res.Errors != 10 || res.FirstError != "boom" {
		t.Errorf("%d calls, %d exchanges, %d errors (first %q); want 30, 20, 10 (boom)",
			calls.Load(), res.Exchanges, res.Errors, res.FirstError)
	}
}

// Exchanges started in the warmup and finishing in the measured part are
// not counted and take none of the counted exchanges: with four workers
// busy when the warmup ends, some always straddle it.
func TestDriveRequestsAfterWarmup(t *testing.T) {
	var calls atomic.Int64
	res, err := load.Drive(context.Background(), load.DriveConfig{Concurrency: 4, Warmup: 5 * time.Millisecond, Requests: 50},
		func(context.Context, int) (time.Duration, error) {
			calls.Add(1)
			time.Sleep(200 * time.Microsecond) // the exchange's own duration, not synchronisation
			return 200 * time.Microsecond, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.Exchanges != 50 || calls.Load() <= 50 {
		t.Errorf("%d exchanges counted of %d run; want 50 of more than 50", res.Exchanges, calls.Load())
	}
}

func TestDriveRunLength(t *testing.T) {
	ex := func(context.Context, int) (time.Duration, error) { return 0, nil }
	for _, cfg := range []load.DriveConfig{
		{Concurrency: 1},
		{Concurrency: 1, Duration: time.Second, Requests: 10},
		{Concurrency: 1, Requests: -1},
		{Concurrency: 1, Duration: -time.Second},
	} {
		t.Run(fmt.Sprintf("duration %v requests %d", cfg.Duration, cfg.Requests), func(t *testing.T) {
			if _, err := load.Drive(context.Background(), cfg, ex); !errors.Is(err, load.ErrRunLength) {
				t.Errorf("err = %v, want ErrRunLength", err)
			}
		})
	}
}

func TestRunRequestsAgainstNoop(t *testing.T) {
	addr := startNoop(t, noop.NewServer())
	res, err := load.Run(context.Background(), load.Config{
		Target: addr, Conns: 2, Concurrency: 4, Requests: 25, Key: load.DefaultKey,
		ReqBody: load.DefaultRequest(), RespBody: load.DefaultResponse(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Exchanges != 25 || res.Errors != 0 {
		t.Fatalf("%d exchanges, %d errors (first %q); want 25, 0", res.Exchanges, res.Errors, res.FirstError)
	}
}

func TestMainRequests(t *testing.T) {
	addr := startNoop(t, noop.NewServer())
	var out bytes.Buffer
	err := load.Main(context.Background(), []string{"--target", addr, "--requests", "12", "--concurrency", "3", "--conns", "1", "--warmup", "0s"},
		&out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "for 12 requests") || !strings.Contains(out.String(), "exchanges   12 ") {
		t.Errorf("report:\n%s", out.String())
	}
	err = load.Main(context.Background(), []string{"--target", addr, "--requests", "12", "--duration", "1s"}, io.Discard, io.Discard)
	if !errors.Is(err, load.ErrRunLength) {
		t.Errorf("--requests with --duration: err = %v, want ErrRunLength", err)
	}
}
