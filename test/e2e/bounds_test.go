package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// rawStream opens one ext_proc stream on the sidecar, as a client that
// speaks gRPC directly (no Envoy in front) would.
func rawStream(t *testing.T, sc *sidecar) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	conn, err := grpc.NewClient(sc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(128<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	st, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func chatHeaders() *extprocv3.ProcessingRequest {
	h := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{":method", "POST"}, {":path", "/v1/chat/completions"}, {"authorization", "Bearer " + seedKey}} {
		h.Headers = append(h.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: h}}}
}

// vmKiB reads a /proc/<pid>/status field in KiB (VmRSS, VmHWM).
func vmKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	n, err := readVmKiB(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readVmKiB is vmKiB for goroutines other than the test's.
func readVmKiB(pid int, field string) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(ln, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// One gRPC message may hold the largest body the catalog allows (or the
// largest buffered answer), plus headroom; gRPC refuses anything larger
// from its length prefix, so oversized messages cost no memory.
func TestGRPCMessageBound(t *testing.T) {
	sc := startSidecar(t, writeCatalog(t))
	before := vmKiB(t, sc.cmd.Process.Pid, "VmRSS")
	var wg sync.WaitGroup
	codesSeen := make([]codes.Code, 4)
	for i := range codesSeen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := rawStream(t, sc)
			if err := st.Send(chatHeaders()); err != nil {
				t.Error(err)
				return
			}
			if _, err := st.Recv(); err != nil {
				t.Error(err)
				return
			}
			big := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
				RequestBody: &extprocv3.HttpBody{Body: make([]byte, 24<<20), EndOfStream: true}}}
			_ = st.Send(big)
			_, err := st.Recv()
			codesSeen[i] = status.Code(err)
		}()
	}
	wg.Wait()
	for i, c := range codesSeen {
		if c != codes.ResourceExhausted {
			t.Errorf("24 MiB message %d: %v, want ResourceExhausted", i, c)
		}
	}
	if hwm := vmKiB(t, sc.cmd.Process.Pid, "VmHWM"); hwm > before+32<<10 {
		t.Errorf("peak RSS %d KiB after four 24 MiB messages (before: %d KiB)", hwm, before)
	}
	t.Logf("RSS before %d KiB, peak %d KiB", before, vmKiB(t, sc.cmd.Process.Pid, "VmHWM"))
}

// A stream that never sends, or stops sending, is closed after
// --stream-idle-timeout.
func TestIdleStreamsClosed(t *testing.T) {
	sc := startSidecar(t, writeCatalog(t), "--stream-idle-timeout", "300ms")
	silent := rawStream(t, sc)
	stalled := rawStream(t, sc)
	if err := stalled.Send(chatHeaders()); err != nil {
		t.Fatal(err)
	}
	if _, err := stalled.Recv(); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]extprocv3.ExternalProcessor_ProcessClient{"silent": silent, "stalled": stalled} {
		start := time.Now()
		_, err := st.Recv()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("%s stream: %v, want DeadlineExceeded", name, err)
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Errorf("%s stream closed after %v", name, waited)
		}
	}
}

func adminGet(t *testing.T, sc *sidecar, path string) int {
	t.Helper()
	resp, err := http.Get(sc.adminURL + path)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Profiles are served only with --pprof.
func TestPprofOnlyWhenAsked(t *testing.T) {
	if got := adminGet(t, startSidecar(t, writeCatalog(t)), "/debug/pprof/"); got != 404 {
		t.Errorf("/debug/pprof/ without --pprof: %d, want 404", got)
	}
	if got := adminGet(t, startSidecar(t, writeCatalog(t), "--pprof"), "/debug/pprof/"); got != 200 {
		t.Errorf("/debug/pprof/ with --pprof: %d, want 200", got)
	}
}

// From SIGTERM on, /readyz answers 503 while streams are still served for
// the drain delay.
func TestReadyzFailsWhileDraining(t *testing.T) {
	sc := startSidecar(t, writeCatalog(t), "--drain-delay", "3s")
	if err := sc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	got := adminGet(t, sc, "/readyz")
	for got != 503 && time.Now().Before(deadline) {
		got = adminGet(t, sc, "/readyz")
	}
	if got != 503 {
		t.Fatalf("/readyz while draining: %d, want 503", got)
	}
	st := rawStream(t, sc)
	if err := st.Send(chatHeaders()); err != nil {
		t.Fatal(err)
	}
	if resp, err := st.Recv(); err != nil || resp.GetRequestHeaders() == nil {
		t.Errorf("a new stream during the drain delay: %v %v", resp, err)
	}
}
