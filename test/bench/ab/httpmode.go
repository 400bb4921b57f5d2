package ab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"

	"github.com/cpen/router/test/bench/load"
	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/standin"
)

const (
	clusterHeader = "x-cpen-upstream-cluster"
	mockCluster   = "mock_provider" // every provider's cluster in the bench catalog
)

// httpServer is an in-process HTTP server on a loopback port.
type httpServer struct {
	srv  *http.Server
	url  string
	done chan error
}

func serveHTTP(h http.Handler) (*httpServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &httpServer{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		url:  "http://" + l.Addr().String(),
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

func (s *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// httpPath is one way a request can reach the mock provider.
type httpPath struct {
	name   string
	url    string
	header http.Header
	pid    int // the server whose CPU this path costs; 0: none
	check  string
}

// httpOverhead measures what the sidecar adds at the HTTP level: the same
// request through the Envoy stand-in with ext_proc (ours) and without it
// (no ext_proc stream at all; the client names the cluster itself), with
// the mock provider behind both. Straight-to-the-mock is shown for scale.
func (r *runner) httpOverhead(ctx context.Context) error {
	mock := mockprovider.New("bench")
	mockSrv, err := serveHTTP(mock)
	if err != nil {
		return err
	}
	defer mockSrv.close()
	clusters := map[string]string{mockCluster: mockSrv.url}
	withExt, err := standin.New(standin.Config{
		ExtProcAddr: r.ours.Addr(), AllowModeOverride: true, MessageTimeout: 10 * time.Second,
		ClusterHeader: clusterHeader, Clusters: clusters, BufferLimitBytes: 4 << 20,
	})
	if err != nil {
		return fmt.Errorf("stand-in with ext_proc: %w", err)
	}
	defer func() { _ = withExt.Close() }()
	noExt, err := standin.New(standin.Config{
		ExtProcAddr: r.ours.Addr(), ClusterHeader: clusterHeader, Clusters: clusters, BufferLimitBytes: 4 << 20,
		Mode: &extprocfilterv3.ProcessingMode{
			RequestHeaderMode: extprocfilterv3.ProcessingMode_SKIP, RequestBodyMode: extprocfilterv3.ProcessingMode_NONE,
			ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP, ResponseBodyMode: extprocfilterv3.ProcessingMode_NONE,
		},
	})
	if err != nil {
		return fmt.Errorf("stand-in without ext_proc: %w", err)
	}
	defer func() { _ = noExt.Close() }()
	withSrv, err := serveHTTP(withExt)
	if err != nil {
		return err
	}
	defer withSrv.close()
	noSrv, err := serveHTTP(noExt)
	if err != nil {
		return err
	}
	defer noSrv.close()

	paths := []httpPath{
		{name: "direct to mock", url: mockSrv.url + load.ChatPath, header: http.Header{}},
		{name: "stand-in, no ext_proc", url: noSrv.url + load.ChatPath, header: http.Header{clusterHeader: {mockCluster}}},
		{name: "stand-in + sidecar", url: withSrv.url + load.ChatPath,
			header: http.Header{"Authorization": {"Bearer " + r.o.key}}, pid: r.ours.PID(), check: `"cpen_route"`},
	}
	body := load.DefaultRequest()
	for _, p := range paths {
		if err := probe(ctx, p, body); err != nil {
			return err
		}
	}
	mock.Reset()

	w := r.stdout
	fmt.Fprintf(w, "\nHTTP overhead: net/http clients -> Envoy stand-in -> mock provider, %s request; %v warmup + %v per leg\n",
		load.Bytes(int64(len(body))), r.o.warmup, r.o.httpDuration)
	fmt.Fprintf(w, "%-5s %-4s %-22s %8s %9s %9s %9s %13s %9s %6s %6s\n",
		"conc", "rep", "path", "req/s", "p50", "p99", "max", "ours cpu/req", "gen cores", "other", "errors")
	type added struct{ p50, p99, p50Direct, p99Direct []time.Duration }
	sums := map[int]*added{}
	for _, conc := range r.o.httpConc {
		a := &added{}
		sums[conc] = a
		for rep := 1; rep <= r.o.reps; rep++ {
			res := make([]load.Result, len(paths))
			for i, p := range paths {
				if res[i], err = r.httpLeg(ctx, p, conc, body); err != nil {
					return err
				}
				mock.Reset() // the mock records every request; keep memory flat
				cpu := "-"
				if res[i].Server != nil {
					cpu = load.Dur(res[i].Server.CPUPerExchange)
				}
				fmt.Fprintf(w, "%-5d %-4d %-22s %8.0f %9s %9s %9s %13s %9.2f %6.2f %6d\n", conc, rep, p.name, res[i].Rate,
					load.Dur(res[i].Latency.P50), load.Dur(res[i].Latency.P99), load.Dur(res[i].Latency.Max),
					cpu, res[i].Cores(res[i].GenCPU), res[i].Cores(res[i].Other()), res[i].Errors)
				if res[i].FirstError != "" {
					fmt.Fprintf(w, "%-33s first error: %s\n", "", res[i].FirstError)
				}
			}
			direct, plain, side := res[0].Latency, res[1].Latency, res[2].Latency
			a.p50 = append(a.p50, side.P50-plain.P50)
			a.p99 = append(a.p99, side.P99-plain.P99)
			a.p50Direct = append(a.p50Direct, side.P50-direct.P50)
			a.p99Direct = append(a.p99Direct, side.P99-direct.P99)
		}
	}
	warn, err := standinHealthy(withExt.Stats(), noExt.Stats())
	if err != nil {
		return err
	}
	if warn != "" {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintf(w, "added by the sidecar per request (median over %d reps): vs the stand-in without ext_proc, and vs going straight to the mock\n", r.o.reps)
	fmt.Fprintf(w, "%-5s %10s %10s %16s %16s\n", "conc", "p50 added", "p99 added", "p50 vs direct", "p99 vs direct")
	for _, conc := range r.o.httpConc {
		a := sums[conc]
		fmt.Fprintf(w, "%-5d %10s %10s %16s %16s\n", conc, signed(median(a.p50)), signed(median(a.p99)),
			signed(median(a.p50Direct)), signed(median(a.p99Direct)))
	}
	return nil
}

// errStandin reports stand-in counters that show the comparison is off.
var errStandin = errors.New("stand-in")

// standinHealthy fails if the path without ext_proc opened an ext_proc
// stream (the comparison would be void), and warns about ext_proc trouble
// on the sidecar path (failed requests are counted as errors anyway).
func standinHealthy(with, without standin.Stats) (warning string, err error) {
	if without.StreamsStarted != 0 {
		return "", fmt.Errorf("%w without ext_proc opened %d ext_proc streams", errStandin, without.StreamsStarted)
	}
	if n := with.StreamsFailed + with.MessageTimeouts + with.SpuriousMsgsReceived + with.RejectedHeaderMutations; n != 0 {
		return fmt.Sprintf("stand-in with ext_proc counted trouble: %+v", with), nil
	}
	return "", nil
}

func signed(d time.Duration) string {
	if d < 0 {
		return "-" + load.Dur(-d)
	}
	return "+" + load.Dur(d)
}

// probe sends one request down p and checks that it is served.
func probe(ctx context.Context, p httpPath, body []byte) error {
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	got, err := post(ctx, c, p, body)
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.name, err)
	}
	if p.check != "" && !strings.Contains(string(got), p.check) {
		return fmt.Errorf("probe %s: the answer lacks %s: %.300s", p.name, p.check, got)
	}
	return nil
}

var errStatus = errors.New("unexpected HTTP status")

func post(ctx context.Context, c *http.Client, p httpPath, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w %d: %.300s", errStatus, resp.StatusCode, got)
	}
	return got, nil
}

func (r *runner) httpLeg(ctx context.Context, p httpPath, conc int, body []byte) (load.Result, error) {
	if err := r.ours.Alive(); err != nil {
		return load.Result{}, err
	}
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	r.progress("HTTP c=%d %s", conc, p.name)
	res, err := load.Drive(ctx, load.DriveConfig{Concurrency: conc, Warmup: r.o.warmup, Duration: r.o.httpDuration, PID: p.pid},
		func(ctx context.Context, _ int) (time.Duration, error) {
			start := time.Now()
			_, err := post(ctx, c, p, body)
			return time.Since(start), err
		})
	if err != nil {
		return res, fmt.Errorf("HTTP %s c=%d: %w", p.name, conc, err)
	}
	r.failed += res.Errors
	return res, r.json.Encode(load.Record{Label: fmt.Sprintf("http c=%d %s", conc, p.name),
		ReqBytes: len(body), Result: res})
}
