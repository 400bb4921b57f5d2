package chat

import (
	"context"
	"github.com/cpen/router/extproc/internal/envoytest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector"
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

var _ catalog.RouteMetrics = noCount{}

func (noCount) Served(int)                                        {}
func (noCount) Finished(catalog.Operation, time.Duration, string) {}
func (noCount) FirstToken(catalog.Operation, time.Duration)       {}
func (noCount) Tokens(catalog.Operation, int64, int64)            {}

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
		func(*selector.Route) catalog.RouteMetrics { return noCount{} })
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

// The messages of Envoy's side.
var (
	reqHeaders  = envoytest.ReqHeaders
	reqBody     = envoytest.ReqBody
	respHeaders = envoytest.RespHeaders
	respChunk   = envoytest.RespChunk
)

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
