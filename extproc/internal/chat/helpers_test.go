package chat

import (
	"context"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector/state"
)

// testCatalog is the sidecar's test catalog, which the extproc tests
// serve too.
const testCatalog = "../../testdata/catalog.yaml"

const seedKey = "cpen_live_test_seed"

const seedRequest = `{"model":"cpen/middle","messages":[{"role":"user","content":"Hi"}],` +
	`"routing":{"max_total_per_1m":"0.30","min_total_per_1m":"0.05","strategy":"balanced"},"temperature":0.2}`

// noCount counts nothing.
type noCount struct{}

var _ catalog.ServedCounter = noCount{}

func (noCount) Served(int) {}

// newVersion compiles the test catalog with fresh route health and the
// providers' keys set.
func newVersion(tb testing.TB) *catalog.Version {
	tb.Helper()
	cat, err := config.LoadFile(testCatalog)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := catalog.Compile(cat, map[string]string{"prov_a": "sk-prov-a", "prov_b": "sk-prov-b"},
		func(ids []string) catalog.RouteHealth { return state.NewHealth(ids...) },
		func(string) catalog.ServedCounter { return noCount{} })
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// newTestServer is a transport over the chat endpoints, serving the test
// catalog at a fixed time with in-process state.
func newTestServer(tb testing.TB) *stream.Server {
	tb.Helper()
	versions := new(atomic.Pointer[catalog.Version])
	versions.Store(newVersion(tb))
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	limiter := state.NewLimiter()
	cfg := &Config{Versions: versions, Now: func() time.Time { return now }, Pins: state.NewPins(), Limiter: limiter,
		Ledger: state.NewLedger(limiter), Metrics: nopMetrics{}, ReservationTTL: state.ReservationTTL}
	s := stream.New(stream.Config{
		Log: zap.NewNop(),
		Endpoints: stream.Endpoints{
			"/v1/chat/completions": Keyed(cfg),
			"/v1/extractions":      Extraction(cfg),
		},
		NotFound:    func(x *stream.Exchange) stream.Processor { return stream.NewPassThrough(x) },
		IdleTimeout: time.Minute,
	})
	tb.Cleanup(s.Close)
	return s
}

// run drives one exchange through msgs and returns copies of its answers
// (the exchange reuses its answer storage).
func run(tb testing.TB, s *stream.Server, msgs ...*extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	tb.Helper()
	x := s.Exchange(context.Background())
	defer s.Release(x)
	var out []*extprocv3.ProcessingResponse
	for _, m := range msgs {
		resp, err := x.Handle(m)
		if err != nil {
			tb.Fatalf("Handle: %v", err)
		}
		out = append(out, proto.Clone(resp).(*extprocv3.ProcessingResponse))
	}
	return out
}

// chatOf returns the chat processor of an exchange of a chat or extraction
// request, or fails.
func chatOf(tb testing.TB, x *stream.Exchange) *chat {
	tb.Helper()
	switch p := x.Processor().(type) {
	case *chat:
		return p
	case extraction:
		return p.chat
	}
	tb.Fatalf("processor %T is not a chat", x.Processor())
	return nil
}

func headers(eos bool, kv ...string) *extprocv3.HttpHeaders {
	h := &corev3.HeaderMap{}
	for i := 0; i < len(kv); i += 2 {
		h.Headers = append(h.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocv3.HttpHeaders{Headers: h, EndOfStream: eos}
}

func reqHeaders(path, key string) *extprocv3.ProcessingRequest {
	kv := []string{":method", "POST", ":path", path, ":authority", "localhost:10000", ":scheme", "http",
		"content-type", "application/json", "accept-encoding", "gzip", "x-request-id", "req-1"}
	if key != "" {
		kv = append(kv, "authorization", "Bearer "+key)
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: headers(false, kv...)}}
}

func reqBody(body string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}}}
}

func respHeaders(status, ctype string, extra ...string) *extprocv3.ProcessingRequest {
	kv := append([]string{":status", status, "content-type", ctype}, extra...)
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: headers(false, kv...)}}
}

func respChunk(body string, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: eos}}}
}

// mutationOf flattens a header mutation: "-name" for removals, "name=value" for sets.
func mutationOf(c *extprocv3.CommonResponse) []string {
	var out []string
	for _, r := range c.GetHeaderMutation().GetRemoveHeaders() {
		out = append(out, "-"+r)
	}
	for _, h := range c.GetHeaderMutation().GetSetHeaders() {
		out = append(out, h.GetHeader().GetKey()+"="+string(h.GetHeader().GetRawValue()))
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// nopMetrics drops what the chat path counts.
type nopMetrics struct{}

var _ Metrics = nopMetrics{}

func (nopMetrics) Spent(string, float64) {}
func (nopMetrics) CreditRefused()        {}
func (nopMetrics) Reservations(int)      {}
