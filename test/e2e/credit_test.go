package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/shopspring/decimal"

	"github.com/cpen/router/config"
	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/redistest"
)

const creditKey = "cpen_live_e2e_credit"

// creditCatalog is the end-to-end catalog plus creditKey, whose account
// has the given credit (rpm_limit high enough never to matter).
func creditCatalog(t *testing.T, credit string) string {
	t.Helper()
	cat, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(creditKey))
	line := fmt.Sprintf("  - {id: key_credit, sha256: %q, account: acct_credit, rpm_limit: 100000, credit_usd: %q}\n",
		hex.EncodeToString(sum[:]), credit)
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, append(cat, line...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// prices are a route's visible prices per 1M tokens, computed here from
// the catalog file: price × usd rate × (1 + fee rate).
type prices struct{ in, out decimal.Decimal }

func routePrices(t *testing.T, catalogPath, routeID string) prices {
	t.Helper()
	c, err := config.LoadFile(catalogPath)
	if err != nil {
		t.Fatal(err)
	}
	markup := decimal.NewFromInt(1).Add(c.FeeRate)
	for _, r := range c.Routes {
		if r.ID == routeID {
			rate := c.USDRates[r.Currency]
			return prices{r.InputPer1M.Mul(rate).Mul(markup), r.OutputPer1M.Mul(rate).Mul(markup)}
		}
	}
	t.Fatalf("no route %s", routeID)
	return prices{}
}

// cost is tokens at p, exact.
func (p prices) cost(prompt, completion int64) decimal.Decimal {
	return p.in.Mul(decimal.NewFromInt(prompt)).Add(p.out.Mul(decimal.NewFromInt(completion))).Div(decimal.NewFromInt(1_000_000))
}

// usd reads a decimal string the way a client would, refusing anything
// else (a float, trailing zeros).
func usd(t *testing.T, v any) decimal.Decimal {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("amount %v (%T) is not a decimal string", v, v)
	}
	d, err := decimal.NewFromString(s)
	if err != nil || (strings.Contains(s, ".") && strings.HasSuffix(s, "0")) {
		t.Fatalf("amount %q is not a decimal without trailing zeros", s)
	}
	return d
}

// cheapestMiddle sends a chat to route_mid_01 (the cheapest of cpen/middle,
// at provider a) with an output bound.
func cheapestMiddle(content string, maxTokens int) string {
	return fmt.Sprintf(`{"model":"cpen/middle","routing":{"strategy":"cheapest"},"max_completion_tokens":%d,"messages":[{"role":"user","content":%q}]}`,
		maxTokens, content)
}

func postChat(t *testing.T, c context.Context, url, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	code, h, v, err := tryChat(c, url, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, h, v
}

// tryChat posts a chat body as written; safe off the test's goroutine.
func tryChat(c context.Context, url, key, body string) (int, http.Header, map[string]any, error) {
	req, _ := http.NewRequestWithContext(c, "POST", url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, nil, nil, fmt.Errorf("status %d body %s: %w", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, resp.Header, v, nil
}

// billing reads /v1/billing/status through the SDK's raw client.
func billing(t *testing.T, url, key string) map[string]any {
	t.Helper()
	opts := optionsFor(url + "/v1/")
	if key != "" {
		opts = append(opts, option.WithAPIKey(key))
	} else {
		opts = append(opts, option.WithHeaderDel("authorization"))
	}
	c := openai.NewClient(opts...)
	var out map[string]any
	if err := c.Get(ctx(t), "billing/status", nil, &out); err != nil {
		t.Fatalf("billing status: %v", err)
	}
	return out
}

// settled waits until the account has no open reservation, reading the
// billing status; settlement runs when the exchange ends, just after the
// client has its answer.
func settled(t *testing.T, url string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b := billing(t, url, creditKey)
		if b["reserved_usd"] == "0" {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("reservations still open: %v", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func answerWithUsage(model string, prompt, completion int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-c","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		model, prompt, completion, prompt+completion)
}

// Every answer carries its exact cost, the account's ledger follows, and
// the refusal says what is left and what the request could cost.
func TestCreditReceipts(t *testing.T) {
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	cat := creditCatalog(t, "0.001")
	s.sidecar = startSidecar(t, cat)
	s.url = s.front(s.sidecar)
	mid := routePrices(t, cat, "route_mid_01")
	lowEUR := routePrices(t, cat, "route_low_02")
	credit := decimal.RequireFromString("0.001")
	spent := decimal.Zero

	// Seed route, usage 42 + 18.
	s.provA.Script(mockReply(200, answerWithUsage("upstream-mini", 42, 18)))
	code, _, v := postChat(t, ctx(t), s.url, creditKey, cheapestMiddle("Tag: refund request.", 50))
	if code != 200 || v["cpen_status"] != "completed" {
		t.Fatalf("status %d body %v", code, v)
	}
	want := mid.cost(42, 18)
	if got := usd(t, v["cpen_cost_usd"]); !got.Equal(want) || v["cpen_cost_usd"] != "0.000006" {
		t.Fatalf("cpen_cost_usd %v, want %s (0.000006)", v["cpen_cost_usd"], want)
	}
	spent = spent.Add(want)

	// A route priced in EUR: cpen/low's cheapest is route_low_02.
	s.provB.Script(mockReply(200, answerWithUsage("upstream-small-eur", 1000, 500)))
	code, _, v = postChat(t, ctx(t), s.url, creditKey,
		`{"model":"cpen/low","routing":{"strategy":"cheapest"},"max_tokens":600,"messages":[{"role":"user","content":"hi"}]}`)
	route, _ := v["cpen_route"].(map[string]any)
	if code != 200 || route["route_id"] != "route_low_02" {
		t.Fatalf("status %d body %v", code, v)
	}
	want = lowEUR.cost(1000, 500)
	if got := usd(t, v["cpen_cost_usd"]); !got.Equal(want) {
		t.Fatalf("EUR cpen_cost_usd %v, want %s", v["cpen_cost_usd"], want)
	}
	spent = spent.Add(want)

	b := settled(t, s.url)
	if b["account"] != "acct_credit" || usd(t, b["credit_usd"]).Cmp(credit) != 0 ||
		!usd(t, b["spent_usd"]).Equal(spent) || !usd(t, b["remaining_usd"]).Equal(credit.Sub(spent)) {
		t.Fatalf("billing %v, want spent %s remaining %s", b, spent, credit.Sub(spent))
	}

	// A reload that changes the credit keeps what was spent.
	s.reloadCatalog(func(c string) string { return strings.Replace(c, `credit_usd: "0.001"`, `credit_usd: "0.002"`, 1) })
	b = billing(t, s.url, creditKey)
	if b["credit_usd"] != "0.002" || !usd(t, b["spent_usd"]).Equal(spent) ||
		!usd(t, b["remaining_usd"]).Equal(decimal.RequireFromString("0.002").Sub(spent)) {
		t.Fatalf("after a reload raising the credit: %v, want spent %s kept", b, spent)
	}
	s.reloadCatalog(func(c string) string { return strings.Replace(c, `credit_usd: "0.002"`, `credit_usd: "0.001"`, 1) })

	// A request whose worst case exceeds what is left: 402 with both
	// figures, and no RPM slot taken.
	body := cheapestMiddle("too big", 100000)
	reservation := mid.cost(int64(len(body)), 100000)
	code, h, v := postChat(t, ctx(t), s.url, creditKey, body)
	e, _ := v["error"].(map[string]any)
	wantDetail := fmt.Sprintf("Insufficient credit: %s USD remaining, this request may cost up to %s USD",
		credit.Sub(spent).String(), reservation.String())
	if code != 402 || e["type"] != "insufficient_budget" || e["code"] != "insufficient_credit" || v["detail"] != wantDetail {
		t.Fatalf("402: status %d body %v, want detail %q", code, v, wantDetail)
	}
	if h.Get("x-ratelimit-remaining-requests") != "" {
		t.Errorf("a credit refusal carries rate-limit headers %v", h)
	}
	s.provA.Script(mockReply(200, answerWithUsage("upstream-mini", 1, 1)))
	code, h, _ = postChat(t, ctx(t), s.url, creditKey, cheapestMiddle("small", 1))
	if code != 200 || h.Get("x-ratelimit-remaining-requests") != "99997" {
		t.Errorf("after the refusal: status %d remaining %q, want 200 and 99997 (three admissions: the refusal took none)", code, h.Get("x-ratelimit-remaining-requests"))
	}

	// An unlimited key: a receipt, and no credit.
	s.provA.Script(mockReply(200, answerWithUsage("upstream-mini", 42, 18)))
	code, _, v = postChat(t, ctx(t), s.url, seedKey, cheapestMiddle("Tag: refund request.", 50))
	if code != 200 || v["cpen_cost_usd"] != "0.000006" {
		t.Fatalf("unlimited key: status %d body %v", code, v)
	}
	b = billing(t, s.url, seedKey)
	if b["credit_usd"] != nil || b["remaining_usd"] != nil || b["account"] != "a" {
		t.Errorf("unlimited billing %v, want null credit and remaining", b)
	}
	pub := billing(t, s.url, "")
	if len(pub) != 2 || pub["credit_packs"] == nil || pub["checkout"] == nil {
		t.Errorf("public billing %v, want credit_packs and checkout only", pub)
	}

	// A provider error costs nothing and says so. (Last: it ejects
	// route_mid_01 for a second, and the figures above are priced on it.)
	before := usd(t, settled(t, s.url)["spent_usd"])
	s.provA.Script(mockReply(500, `{"error":{"message":"boom","type":"server_error"}}`))
	code, _, v = postChat(t, ctx(t), s.url, creditKey, cheapestMiddle("fail please", 50))
	if code != 500 || v["cpen_cost_usd"] != "0" {
		t.Fatalf("provider 500: status %d body %v, want cpen_cost_usd \"0\"", code, v)
	}
	if after := usd(t, settled(t, s.url)["spent_usd"]); !after.Equal(before) {
		t.Errorf("spent %s after a provider error, want %s unchanged", after, before)
	}
}

// Streams: the receipt is on the last data chunk with the usage, and the
// ledger is debited that cost; a stream the client cancels before the
// answer costs its reservation.
func TestCreditStreams(t *testing.T) {
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	cat := creditCatalog(t, "1")
	s.sidecar = startSidecar(t, cat)
	s.url = s.front(s.sidecar)
	mid := routePrices(t, cat, "route_mid_01")

	c := s.client(creditKey)
	stream := c.Chat.Completions.NewStreaming(ctx(t), openai.ChatCompletionNewParams{
		Model:    "cpen/middle",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tag: refund request.")},
	}, option.WithJSONSet("routing", map[string]any{"strategy": "cheapest"}))
	var last map[string]any
	var usage openai.CompletionUsage
	for stream.Next() {
		ch := stream.Current()
		if ch.Usage.PromptTokens > 0 {
			usage = ch.Usage
			_ = json.Unmarshal([]byte(ch.RawJSON()), &last)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := mid.cost(usage.PromptTokens, usage.CompletionTokens)
	if last == nil || last["cpen_status"] != "completed" || !usd(t, last["cpen_cost_usd"]).Equal(want) {
		t.Fatalf("usage chunk %v, want cpen_cost_usd %s", last, want)
	}
	b := settled(t, s.url)
	if !usd(t, b["spent_usd"]).Equal(want) {
		t.Fatalf("spent %v, want %s", b["spent_usd"], want)
	}

	// Cancelled while the provider has not answered: the reservation is
	// debited, since the provider may bill for it.
	release := s.provA.Hold()
	defer release()
	body := `{"model":"cpen/middle","stream":true,"routing":{"strategy":"cheapest"},"messages":[{"role":"user","content":"cancel me"}]}`
	cctx, cancel := context.WithCancel(ctx(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(cctx, "POST", s.url+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+creditKey)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for s.provA.Waiting() != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	reservation := mid.cost(int64(len(body)), config.DefaultReserveOutputTokens)
	b = settled(t, s.url)
	if got := usd(t, b["spent_usd"]); !got.Equal(want.Add(reservation)) {
		t.Fatalf("spent after a cancelled stream %s, want %s + reservation %s", got, want, reservation)
	}
	release()

	// Cancelled mid-way, two events into the answer and before its usage:
	// the reservation again.
	releaseStreams := s.provA.HoldStreams(2)
	defer releaseStreams()
	mctx, mcancel := context.WithCancel(ctx(t))
	req, _ := http.NewRequestWithContext(mctx, "POST", s.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+creditKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	r := bufio.NewReader(resp.Body)
	for events := 0; events < 2; {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			events++
		}
	}
	mcancel()
	resp.Body.Close()
	b = settled(t, s.url)
	if got := usd(t, b["spent_usd"]); !got.Equal(want.Add(reservation.Mul(decimal.NewFromInt(2)))) {
		t.Fatalf("spent after a stream cancelled mid-way %s, want %s + 2 × reservation %s", got, want, reservation)
	}
}

// Two replicas on one Redis, 400 requests at once, credit for 50
// reservations: no more than 50 admitted, every other one refused for
// credit, and the ledger equals the sum of the receipts to the last digit.
func TestCreditConcurrencyAcrossReplicas(t *testing.T) {
	const requests, covered = 400, 50
	r := redistest.Start(t)
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	body := cheapestMiddle("Tag: refund request.", 20)
	probe := creditCatalog(t, "1")
	mid := routePrices(t, probe, "route_mid_01")
	reservation := mid.cost(int64(len(body)), 20)
	// Credit for 50 reservations and half of another.
	credit := reservation.Mul(decimal.NewFromInt(covered)).Add(reservation.Div(decimal.NewFromInt(2)))
	cat := creditCatalog(t, credit.String())
	// 400 admissions at once on two cores: a generous Redis timeout, so
	// the test is about the ledger, not about a loaded machine.
	a := startSidecar(t, cat, "--redis-addr", r.Addr, "--redis-timeout", "10s")
	b := startSidecar(t, cat, "--redis-addr", r.Addr, "--redis-timeout", "10s")
	urls := []string{s.front(a), s.front(b)}

	release := s.provA.Hold()
	defer release()
	type result struct {
		code int
		v    map[string]any
		err  error
	}
	results := make(chan result, requests)
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, v, err := tryChat(c, urls[i%2], creditKey, body)
			results <- result{code, v, err}
		}()
	}
	// Wait until every request is either refused or held at the provider,
	// so none settles before all are decided.
	refused, admitted := 0, 0
	var receipts []decimal.Decimal
	deadline := time.Now().Add(60 * time.Second)
	for refused+s.provA.Waiting() < requests {
		select {
		case res := <-results:
			if res.err != nil {
				t.Fatal(res.err)
			}
			e, _ := res.v["error"].(map[string]any)
			if res.code != 402 || e["code"] != "insufficient_credit" {
				t.Fatalf("before release: status %d body %v, want 402 insufficient_credit", res.code, res.v)
			}
			refused++
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d refused and %d held after 60s", refused, s.provA.Waiting())
		}
	}
	if held := s.provA.Waiting(); held > covered {
		t.Fatalf("%d requests admitted, the credit covers %d", held, covered)
	}
	release()
	wg.Wait()
	close(results)
	for res := range results {
		if res.err != nil || res.code != 200 {
			t.Fatalf("admitted request: status %d body %v", res.code, res.v)
		}
		admitted++
		receipts = append(receipts, usd(t, res.v["cpen_cost_usd"]))
	}
	sum := decimal.Zero
	for _, c := range receipts {
		sum = sum.Add(c)
	}
	for _, url := range urls {
		if pub := billing(t, url, ""); len(pub) != 2 || pub["credit_packs"] == nil || pub["checkout"] == nil {
			t.Errorf("public billing on %s: %v, want credit_packs and checkout only", url, pub)
		}
		bill := settled(t, url)
		if !usd(t, bill["spent_usd"]).Equal(sum) || bill["reserved_usd"] != "0" {
			t.Errorf("billing on %s: %v, want spent %s (sum of %d receipts)", url, bill, sum, len(receipts))
		}
	}
	t.Logf("admitted %d, refused %d, credit %s, reservation %s, spent %s = sum of receipts %s",
		admitted, refused, credit, reservation, usd(t, settled(t, urls[0])["spent_usd"]), sum)
	if admitted != covered || refused != requests-covered {
		t.Errorf("admitted %d refused %d, want %d and %d", admitted, refused, covered, requests-covered)
	}
}

// A replica killed with reservations open: once they expire, another
// replica debits each in full, once.
func TestCreditKilledReplica(t *testing.T) {
	r := redistest.Start(t)
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	cat := creditCatalog(t, "1")
	mid := routePrices(t, cat, "route_mid_01")
	a := startSidecar(t, cat, "--redis-addr", r.Addr, "--reservation-ttl", "2s")
	b := startSidecar(t, cat, "--redis-addr", r.Addr, "--reservation-ttl", "2s")
	urlA, urlB := s.front(a), s.front(b)

	release := s.provA.Hold()
	defer release()
	body := cheapestMiddle("held", 30)
	for range 3 {
		go func() {
			req, _ := http.NewRequestWithContext(ctx(t), "POST", urlA+"/v1/chat/completions", bytes.NewBufferString(body))
			req.Header.Set("Authorization", "Bearer "+creditKey)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for s.provA.Waiting() != 3 {
		time.Sleep(5 * time.Millisecond)
	}
	reservation := mid.cost(int64(len(body)), 30)
	if bill := billing(t, urlB, creditKey); !usd(t, bill["reserved_usd"]).Equal(reservation.Mul(decimal.NewFromInt(3))) {
		t.Fatalf("billing on B with three held on A: %v, want reserved 3 × %s", bill, reservation)
	}
	a.kill(syscall.SIGKILL)
	bill := settled(t, urlB)
	want := reservation.Mul(decimal.NewFromInt(3))
	if !usd(t, bill["spent_usd"]).Equal(want) {
		t.Fatalf("after expiry: %v, want spent %s", bill, want)
	}
	if again := billing(t, urlB, creditKey); !usd(t, again["spent_usd"]).Equal(want) || again["reserved_usd"] != "0" {
		t.Fatalf("read again: %v, want spent %s once", again, want)
	}
}
