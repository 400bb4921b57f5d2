package stream

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// heldStream is a stream whose Envoy sends nothing until it is let go,
// then closes its side.
type heldStream struct {
	fakeStream
	letGo chan struct{}
}

func (h *heldStream) Recv() (*extprocv3.ProcessingRequest, error) {
	<-h.letGo
	return nil, io.EOF
}

// countingMetrics counts refusals by label.
type countingMetrics struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingMetrics) Rejected(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[code]++
}

func (c *countingMetrics) Processed(Phase, time.Duration) {}

func (c *countingMetrics) count(code string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[code]
}

var processInfo = &grpc.StreamServerInfo{FullMethod: extprocv3.ExternalProcessor_Process_FullMethodName}

// intercept runs one stream through the bound's interceptor into s, and
// reports on entered once the stream is admitted.
func intercept(b *Bound, s *Server, st extprocv3.ExternalProcessor_ProcessServer, entered chan<- struct{}) error {
	return b.StreamInterceptor()(s, st, processInfo, func(_ any, ss grpc.ServerStream) error {
		if entered != nil {
			entered <- struct{}{}
		}
		return s.Process(ss.(extprocv3.ExternalProcessor_ProcessServer))
	})
}

const wantOverloaded = "overloaded: 2 concurrent ext_proc streams is the bound (--max-streams); stream refused"

// With the bound's streams open, the next stream is refused at once with
// ResourceExhausted naming the bound; once one ends, a new one is served.
func TestBoundRefusesPastMax(t *testing.T) {
	s := newTestServer(t, passThrough)
	m := &countingMetrics{}
	b := NewBound(2, zap.NewNop(), m, nil)
	held := []*heldStream{{letGo: make(chan struct{})}, {letGo: make(chan struct{})}}
	errs := make(chan error, len(held))
	entered := make(chan struct{})
	for _, h := range held {
		go func() { errs <- intercept(b, s, h, entered) }()
		<-entered
	}
	if b.InFlight() != 2 {
		t.Fatalf("in flight %d, want 2", b.InFlight())
	}

	extra := &fakeStream{In: []*extprocv3.ProcessingRequest{respHeaders("200")}}
	start := time.Now()
	err := intercept(b, s, extra, nil)
	took := time.Since(start)
	if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != wantOverloaded {
		t.Fatalf("third stream: %v, want ResourceExhausted %q", err, wantOverloaded)
	}
	if len(extra.Out) != 0 || len(extra.In) != 1 {
		t.Errorf("a refused stream was read (%d left) or answered (%d)", len(extra.In), len(extra.Out))
	}
	if took > time.Second {
		t.Errorf("refusal took %v", took)
	}
	if got := m.count(MetricOverloaded); got != 1 {
		t.Errorf("counted %d overload refusals, want 1", got)
	}

	close(held[0].letGo)
	if err := <-errs; err != nil {
		t.Fatalf("held stream: %v", err)
	}
	if b.InFlight() != 1 {
		t.Fatalf("in flight %d after a stream ended, want 1", b.InFlight())
	}
	next := &fakeStream{In: []*extprocv3.ProcessingRequest{respHeaders("200")}}
	if err := intercept(b, s, next, nil); err != nil {
		t.Fatalf("a stream after one ended: %v", err)
	}
	if len(next.Out) != 1 || next.Out[0].GetResponseHeaders() == nil {
		t.Errorf("answers %v, want one response_headers", next.Out)
	}
	close(held[1].letGo)
	if err := <-errs; err != nil {
		t.Fatalf("held stream: %v", err)
	}
	if b.InFlight() != 0 {
		t.Errorf("in flight %d after every stream ended, want 0", b.InFlight())
	}
}

// A stream whose processing fails still gives its slot back.
func TestBoundReleasesOnError(t *testing.T) {
	s := newTestServer(t, passThrough)
	b := NewBound(1, zap.NewNop(), nil, nil)
	for i := 0; i < 3; i++ {
		bad := &fakeStream{In: []*extprocv3.ProcessingRequest{reqBody(`{}`)}}
		if err := intercept(b, s, bad, nil); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("stream %d: %v, want FailedPrecondition", i, err)
		}
	}
	if b.InFlight() != 0 {
		t.Errorf("in flight %d, want 0", b.InFlight())
	}
}

// Streams of other services (health watches) are not bounded, so probes
// are answered while ext_proc streams are refused.
func TestBoundOnlyProcessStreams(t *testing.T) {
	b := NewBound(1, zap.NewNop(), nil, nil)
	if !b.acquire() {
		t.Fatal("the first slot was not free")
	}
	defer b.release()
	called := false
	info := &grpc.StreamServerInfo{FullMethod: healthpb.Health_Watch_FullMethodName}
	err := b.StreamInterceptor()(nil, &fakeStream{}, info, func(any, grpc.ServerStream) error { called = true; return nil })
	if err != nil || !called {
		t.Errorf("health watch with the bound full: called %v, %v", called, err)
	}
	err = b.StreamInterceptor()(nil, &fakeStream{}, processInfo, func(any, grpc.ServerStream) error {
		t.Error("a Process stream past the bound reached its handler")
		return nil
	})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Process stream: %v, want ResourceExhausted", err)
	}
}

// Under overload one line a second is logged, carrying how many streams
// were refused since the previous line; every refusal is counted.
func TestBoundLogsOncePerSecond(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	m := &countingMetrics{}
	b := NewBound(1, zap.New(core), m, func() time.Time { return now })
	if !b.acquire() {
		t.Fatal("the first slot was not free")
	}
	defer b.release()
	refuse := func(n int) {
		for i := 0; i < n; i++ {
			if err := b.Admit(func() error { return nil }); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("refusal: %v", err)
			}
		}
	}
	refuse(5)
	now = now.Add(999 * time.Millisecond)
	refuse(3)
	now = now.Add(time.Millisecond)
	refuse(1)
	var got []int64
	for _, e := range logs.All() {
		if e.Message != "ext_proc streams refused: the concurrent stream bound is reached" || e.ContextMap()["max_streams"] != int64(1) {
			t.Errorf("log line %q %v", e.Message, e.ContextMap())
		}
		got = append(got, e.ContextMap()["refused_since_last_log"].(int64))
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 8 {
		t.Errorf("refused_since_last_log per line %v, want [1 8]", got)
	}
	if c := m.count(MetricOverloaded); c != 9 {
		t.Errorf("counted %d, want 9", c)
	}
}

// Concurrent admissions never exceed the bound, and every slot comes back.
func TestBoundConcurrentAdmissions(t *testing.T) {
	b := NewBound(4, zap.NewNop(), nil, nil)
	var mu sync.Mutex
	inside, peak, refused := 0, 0, 0
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.Admit(func() error {
				mu.Lock()
				inside++
				peak = max(peak, inside)
				mu.Unlock()
				<-ctx.Done()
				mu.Lock()
				inside--
				mu.Unlock()
				return nil
			})
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}()
	}
	// Every goroutine either holds a slot (and waits for cancel) or was
	// refused: wait until the counts account for all 64.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := inside+refused == 64
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if peak != 4 || refused != 60 || b.InFlight() != 0 {
		t.Errorf("peak %d, refused %d, in flight %d; want 4, 60, 0", peak, refused, b.InFlight())
	}
}

// Streams that come and go as fast as they can, never more of them than
// the bound, are never refused, and every slot comes back.
func TestBoundNeverRefusesWithASlotFree(t *testing.T) {
	const workers = 8
	b := NewBound(workers, zap.NewNop(), nil, nil)
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20000 {
				if err := b.Admit(func() error { return nil }); err != nil {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := refused.Load(); n != 0 || b.InFlight() != 0 || b.Admitted() != workers*20000 {
		t.Errorf("refused %d, in flight %d, admitted %d; want 0, 0, %d", n, b.InFlight(), b.Admitted(), workers*20000)
	}
}

// A bound of zero admits nothing.
func TestBoundZeroAdmitsNothing(t *testing.T) {
	b := NewBound(0, zap.NewNop(), nil, nil)
	if err := b.Admit(func() error { t.Error("served past a bound of 0"); return nil }); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Admit: %v, want ResourceExhausted", err)
	}
}
