package mockprovider_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cpen/router/test/mockprovider"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The decoded shapes a client sees; fields absent from the reply stay nil so "null" and "missing"
// can be told apart.
type (
	completion struct {
		ID                string   `json:"id"`
		Object            string   `json:"object"`
		Created           int64    `json:"created"`
		Model             string   `json:"model"`
		Choices           []choice `json:"choices"`
		Usage             *usage   `json:"usage"`
		SystemFingerprint string   `json:"system_fingerprint"`
	}
	choice struct {
		Index        int             `json:"index"`
		Message      *message        `json:"message"`
		Delta        *delta          `json:"delta"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	}
	message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	delta struct {
		Role    string  `json:"role"`
		Content *string `json:"content"`
	}
	usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
	errorBody struct {
		Error struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
)

func newServer(t *testing.T, name string) (*mockprovider.Provider, *httptest.Server) {
	t.Helper()
	p := mockprovider.New(name)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func post(t *testing.T, srv *httptest.Server, path, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return resp, data
}

// keyFrom decodes the reply as JSON and reports whether top-level key k is present.
func keyFrom(t *testing.T, data []byte, k string) (json.RawMessage, bool) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("reply is not a JSON object: %v\n%s", err, data)
	}
	v, ok := m[k]
	return v, ok
}

func TestDefaultCompletion(t *testing.T) {
	tests := []struct {
		name       string
		provider   string
		body       string
		wantModel  string
		wantPrompt int // 1 per message + ceil(content bytes / 4)
		wantText   string
	}{
		{
			name:       "one short message",
			provider:   "openai",
			body:       `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`,
			wantModel:  "gpt-4o-mini",
			wantPrompt: 1 + 2,
			wantText:   "Hello from the openai mock provider; you sent 1 message(s).",
		},
		{
			name:     "system and user, unknown fields ignored",
			provider: "mistral",
			body: `{"model":"mistral-medium-latest","temperature":0.2,"messages":[` +
				`{"role":"system","content":"Be brief."},{"role":"user","content":"12345678"}]}`,
			wantModel:  "mistral-medium-latest",
			wantPrompt: (1 + 3) + (1 + 2),
			wantText:   "Hello from the mistral mock provider; you sent 2 message(s).",
		},
		{
			name:     "multi-part content counts its raw JSON",
			provider: "gemini",
			body:     `{"model":"gemini-2.0-flash","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
			// len(`[{"type":"text","text":"hi"}]`) = 29 -> 8
			wantModel:  "gemini-2.0-flash",
			wantPrompt: 1 + 8,
			wantText:   "Hello from the gemini mock provider; you sent 1 message(s).",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newServer(t, tt.provider)
			before := time.Now().Unix()
			resp, data := post(t, srv, "/v1/chat/completions", tt.body, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200: %s", resp.StatusCode, data)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var c completion
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !strings.HasPrefix(c.ID, "chatcmpl-") || !strings.Contains(c.ID, tt.provider) {
				t.Errorf("id = %q, want chatcmpl-… naming %s", c.ID, tt.provider)
			}
			if c.Object != "chat.completion" {
				t.Errorf("object = %q", c.Object)
			}
			if c.Created < before || c.Created > time.Now().Unix() {
				t.Errorf("created = %d, not the current unix time", c.Created)
			}
			if c.Model != tt.wantModel {
				t.Errorf("model = %q, want the request's %q", c.Model, tt.wantModel)
			}
			if c.SystemFingerprint != "fp_"+tt.provider {
				t.Errorf("system_fingerprint = %q", c.SystemFingerprint)
			}
			if len(c.Choices) != 1 {
				t.Fatalf("choices = %d, want 1", len(c.Choices))
			}
			ch := c.Choices[0]
			if ch.Index != 0 || ch.Message == nil || ch.Message.Role != "assistant" || ch.Message.Content != tt.wantText {
				t.Errorf("choice = %+v / %+v, want assistant %q", ch, ch.Message, tt.wantText)
			}
			if string(ch.Logprobs) != "null" {
				t.Errorf("logprobs = %s, want null", ch.Logprobs)
			}
			if ch.FinishReason == nil || *ch.FinishReason != "stop" {
				t.Errorf("finish_reason = %v, want stop", ch.FinishReason)
			}
			wantCompletion := len(strings.Fields(tt.wantText))
			want := usage{PromptTokens: tt.wantPrompt, CompletionTokens: wantCompletion, TotalTokens: tt.wantPrompt + wantCompletion}
			if c.Usage == nil || *c.Usage != want {
				t.Errorf("usage = %+v, want %+v", c.Usage, want)
			}
		})
	}
}

func TestIDsAreUnique(t *testing.T) {
	_, srv := newServer(t, "openai")
	body := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	seen := map[string]bool{}
	for range 3 {
		_, data := post(t, srv, "/v1/chat/completions", body, nil)
		id, _ := keyFrom(t, data, "id")
		if seen[string(id)] {
			t.Fatalf("id %s repeated", id)
		}
		seen[string(id)] = true
	}
}

func TestRecordsRequestsExactly(t *testing.T) {
	p, srv := newServer(t, "openai")
	if _, ok := p.Last(); ok {
		t.Fatal("Last reported a request before any arrived")
	}
	// Odd spacing and key order must survive byte for byte: the sidecar's rewritten body is
	// what tests compare.
	body1 := "{\"messages\":[{\"role\":\"user\",\"content\":\"héllo\"}],  \"model\" : \"gpt-4o-mini\"}\n"
	h := http.Header{
		"Authorization":   {"Bearer sk-provider-key"},
		"X-Multi":         {"one", "two"},
		"X-Cpen-Route-Id": {"route_mid_01"},
	}
	post(t, srv, "/v1/chat/completions?trace=1", body1, h)
	post(t, srv, "/v1beta/openai/chat/completions", `{"model":"g","messages":[{"role":"user","content":"b"}]}`, nil)

	got := p.Requests()
	if len(got) != 2 {
		t.Fatalf("recorded %d requests, want 2", len(got))
	}
	first := got[0]
	if first.Method != http.MethodPost || first.Path != "/v1/chat/completions?trace=1" {
		t.Errorf("first = %s %s", first.Method, first.Path)
	}
	if !bytes.Equal(first.Body, []byte(body1)) {
		t.Errorf("body = %q, want %q", first.Body, body1)
	}
	for k, want := range h {
		if g := first.Header.Values(k); !slices.Equal(g, want) {
			t.Errorf("header %s = %q, want %q", k, g, want)
		}
	}
	if want := fmt.Sprint(len(body1)); first.Header.Get("Content-Length") != want {
		t.Errorf("Content-Length = %q, want %s", first.Header.Get("Content-Length"), want)
	}
	if first.Host != strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("host = %q, want %q", first.Host, strings.TrimPrefix(srv.URL, "http://"))
	}
	if got[1].Path != "/v1beta/openai/chat/completions" {
		t.Errorf("second path = %q (arrival order lost?)", got[1].Path)
	}
	last, ok := p.Last()
	if !ok || last.Path != got[1].Path {
		t.Errorf("Last = %q, %v; want the second request", last.Path, ok)
	}

	// Returned requests are copies: editing them must not change what the provider holds.
	got[0].Body[0] = 'X'
	got[0].Header.Set("Authorization", "changed")
	again := p.Requests()
	if again[0].Body[0] != '{' || again[0].Header.Get("Authorization") != "Bearer sk-provider-key" {
		t.Error("Requests returned shared memory, not copies")
	}

	p.Reset()
	if n := len(p.Requests()); n != 0 {
		t.Errorf("after Reset, %d requests remain", n)
	}
}

func TestScriptedRepliesThenDefault(t *testing.T) {
	p, srv := newServer(t, "openai")
	rateLimited := mockprovider.Reply{
		Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {"7"}, "Content-Type": {"application/json"}},
		Body:   []byte(`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`),
	}
	upstreamDown := mockprovider.Reply{Status: http.StatusBadGateway, Body: []byte("bad gateway")}
	p.Script(rateLimited, upstreamDown)
	rateLimited.Body[0] = 'X' // Script must have copied it

	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantBody   string // exact; empty means "a default completion"
		wantHeader http.Header
		wantNoCT   bool
	}{
		{
			name:       "first scripted reply",
			path:       "/v1/chat/completions",
			wantStatus: http.StatusTooManyRequests,
			wantBody:   `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`,
			wantHeader: http.Header{"Retry-After": {"7"}, "Content-Type": {"application/json"}},
		},
		{
			name:       "second scripted reply, whatever the path, verbatim",
			path:       "/anything",
			wantStatus: http.StatusBadGateway,
			wantBody:   "bad gateway",
			wantNoCT:   true,
		},
		{
			name:       "script exhausted: default behaviour",
			path:       "/v1/chat/completions",
			wantStatus: http.StatusOK,
		},
	}
	for _, tt := range tests {
		resp, data := post(t, srv, tt.path, chat, nil)
		if resp.StatusCode != tt.wantStatus {
			t.Fatalf("%s: status = %d, want %d", tt.name, resp.StatusCode, tt.wantStatus)
		}
		if tt.wantBody != "" && string(data) != tt.wantBody {
			t.Errorf("%s: body = %q, want %q", tt.name, data, tt.wantBody)
		}
		if tt.wantBody == "" {
			if obj, _ := keyFrom(t, data, "object"); string(obj) != `"chat.completion"` {
				t.Errorf("%s: object = %s, want the default completion", tt.name, obj)
			}
		}
		for k, want := range tt.wantHeader {
			if g := resp.Header.Values(k); !slices.Equal(g, want) {
				t.Errorf("%s: header %s = %q, want %q", tt.name, k, g, want)
			}
		}
		if tt.wantNoCT && resp.Header.Get("Content-Type") != "" {
			t.Errorf("%s: Content-Type %q was added to a verbatim reply", tt.name, resp.Header.Get("Content-Type"))
		}
	}
	if n := len(p.Requests()); n != 3 {
		t.Errorf("recorded %d requests, want 3 (scripted ones too)", n)
	}

	p.Script(rateLimited)
	p.Reset()
	if resp, _ := post(t, srv, "/v1/chat/completions", chat, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after Reset, status = %d: pending script not dropped", resp.StatusCode)
	}
}

// flushCounter counts flushes so the test can prove every SSE event is flushed on its own.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes int
}

func (f *flushCounter) Flush() {
	f.flushes++
	f.ResponseRecorder.Flush()
}

// sseData splits an SSE body into the payloads of its data: events, checking the framing.
func sseData(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	expectBlank := false
	for sc.Scan() {
		line := sc.Text()
		if expectBlank {
			if line != "" {
				t.Fatalf("event not terminated by a blank line: %q", line)
			}
			expectBlank = false
			continue
		}
		payload, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not a data: field", line)
		}
		out = append(out, payload)
		expectBlank = true
	}
	if expectBlank {
		t.Fatal("stream ends mid-event")
	}
	return out
}

func TestStream(t *testing.T) {
	const wantText = "Hello from the openai mock provider; you sent 1 message(s)."
	tests := []struct {
		name         string
		options      string
		includeUsage bool
	}{
		{name: "without usage", options: ``},
		{name: "include_usage false", options: `,"stream_options":{"include_usage":false}`},
		{name: "include_usage true", options: `,"stream_options":{"include_usage":true}`, includeUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mockprovider.New("openai")
			body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]` + tt.options + `}`
			rec := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
			p.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))

			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type = %q, want text/event-stream", ct)
			}
			payloads := sseData(t, rec.Body.Bytes())
			if len(payloads) == 0 || payloads[len(payloads)-1] != "[DONE]" {
				t.Fatalf("stream does not end with data: [DONE]: %q", payloads)
			}
			if rec.flushes != len(payloads) {
				t.Errorf("flushes = %d, want one per event (%d)", rec.flushes, len(payloads))
			}
			chunks := payloads[:len(payloads)-1]

			var text strings.Builder
			var id string
			var finishes, usageChunks int
			for i, raw := range chunks {
				var c completion
				if err := json.Unmarshal([]byte(raw), &c); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				if c.Object != "chat.completion.chunk" || c.Model != "gpt-4o-mini" || c.SystemFingerprint != "fp_openai" {
					t.Errorf("chunk %d: object %q model %q fingerprint %q", i, c.Object, c.Model, c.SystemFingerprint)
				}
				if i == 0 {
					id = c.ID
				} else if c.ID != id {
					t.Errorf("chunk %d: id %q differs from %q", i, c.ID, id)
				}
				rawUsage, hasUsage := keyFrom(t, []byte(raw), "usage")
				if tt.includeUsage != hasUsage {
					t.Errorf("chunk %d: usage key present = %v, want %v", i, hasUsage, tt.includeUsage)
				}
				if len(c.Choices) == 0 {
					usageChunks++
					if i != len(chunks)-1 {
						t.Errorf("chunk %d: usage chunk is not the last before [DONE]", i)
					}
					want := usage{PromptTokens: 3, CompletionTokens: len(strings.Fields(wantText)), TotalTokens: 3 + len(strings.Fields(wantText))}
					if c.Usage == nil || *c.Usage != want {
						t.Errorf("usage chunk = %+v, want %+v", c.Usage, want)
					}
					continue
				}
				if hasUsage && string(rawUsage) != "null" {
					t.Errorf("chunk %d: usage = %s, want null before the usage chunk", i, rawUsage)
				}
				ch := c.Choices[0]
				if ch.Delta == nil {
					t.Fatalf("chunk %d: no delta", i)
				}
				if i == 0 && ch.Delta.Role != "assistant" {
					t.Errorf("first chunk role = %q, want assistant", ch.Delta.Role)
				}
				if i > 0 && ch.Delta.Role != "" {
					t.Errorf("chunk %d repeats the role", i)
				}
				if ch.Delta.Content != nil {
					text.WriteString(*ch.Delta.Content)
				}
				if ch.FinishReason != nil {
					finishes++
					if *ch.FinishReason != "stop" || ch.Delta.Content != nil {
						t.Errorf("chunk %d: final chunk = %+v", i, ch)
					}
				}
			}
			if text.String() != wantText {
				t.Errorf("streamed text = %q, want %q", text.String(), wantText)
			}
			if finishes != 1 {
				t.Errorf("chunks with finish_reason = %d, want 1", finishes)
			}
			wantUsageChunks := 0
			if tt.includeUsage {
				wantUsageChunks = 1
			}
			if usageChunks != wantUsageChunks {
				t.Errorf("usage chunks = %d, want %d", usageChunks, wantUsageChunks)
			}
		})
	}
}

func TestStreamOverHTTP(t *testing.T) {
	_, srv := newServer(t, "gemini")
	resp, data := post(t, srv, "/v1beta/openai/chat/completions",
		`{"model":"gemini-2.0-flash","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, nil)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != -1 {
		t.Fatalf("status %d, content length %d: want 200 with a streamed (unsized) body", resp.StatusCode, resp.ContentLength)
	}
	payloads := sseData(t, data)
	if payloads[len(payloads)-1] != "[DONE]" {
		t.Errorf("last event = %q, want [DONE]", payloads[len(payloads)-1])
	}
}

func assertOpenAIError(t *testing.T, status, wantStatus int, data []byte, wantInMessage string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status = %d, want %d: %s", status, wantStatus, data)
	}
	var e errorBody
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, data)
	}
	if e.Error.Type != "invalid_request_error" || string(e.Error.Code) != "null" || e.Error.Message == "" {
		t.Errorf("error = %+v (code %s), want type invalid_request_error, code null, a message", e.Error, e.Error.Code)
	}
	if !strings.Contains(e.Error.Message, wantInMessage) {
		t.Errorf("message %q does not mention %q", e.Error.Message, wantInMessage)
	}
}

func TestMalformedRequests(t *testing.T) {
	tests := []struct {
		name          string
		body          string
		wantInMessage string
	}{
		{name: "truncated JSON", body: `{"model":"m","messages":[`, wantInMessage: "parse the JSON"},
		{name: "empty body", body: ``, wantInMessage: "parse the JSON"},
		{name: "not an object", body: `[1,2]`, wantInMessage: "parse the JSON"},
		{name: "wrong type", body: `{"model":5,"messages":[]}`, wantInMessage: "parse the JSON"},
		{name: "stream not a bool", body: `{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}`, wantInMessage: "parse the JSON"},
		{name: "missing model", body: `{"messages":[{"role":"user","content":"x"}]}`, wantInMessage: "model"},
		{name: "no messages", body: `{"model":"m","messages":[]}`, wantInMessage: "messages"},
	}
	p, srv := newServer(t, "openai")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := post(t, srv, "/v1/chat/completions", tt.body, nil)
			assertOpenAIError(t, resp.StatusCode, http.StatusBadRequest, data, tt.wantInMessage)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	if n := len(p.Requests()); n != len(tests) {
		t.Errorf("recorded %d requests, want %d: rejected requests are recorded too", n, len(tests))
	}
}

func TestUnknownRoutes(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
	}{
		{name: "other endpoint", method: http.MethodPost, path: "/v1/embeddings"},
		{name: "suffix must be exact", method: http.MethodPost, path: "/v1/chat/completions/extra"},
		{name: "wrong method", method: http.MethodGet, path: "/v1/chat/completions"},
		{name: "root", method: http.MethodGet, path: "/"},
	}
	p := mockprovider.New("openai")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{}`)))
			assertOpenAIError(t, rec.Code, http.StatusNotFound, rec.Body.Bytes(), tt.method+" "+tt.path)
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	p := mockprovider.New("openai")
	rec := httptest.NewRecorder()
	big := strings.Repeat("a", mockprovider.MaxBodyBytes+1)
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(big)))
	assertOpenAIError(t, rec.Code, http.StatusRequestEntityTooLarge, rec.Body.Bytes(), fmt.Sprint(mockprovider.MaxBodyBytes))
}

// TestConcurrentUse is for -race: requests, reads, scripts and resets all at once.
func TestConcurrentUse(t *testing.T) {
	p := mockprovider.New("openai")
	const workers = 8
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				body := fmt.Sprintf(`{"model":"m%d","messages":[{"role":"user","content":"%d"}]}`, i, j)
				p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
				p.Script(mockprovider.Reply{Status: http.StatusTeapot})
				_ = p.Requests()
				_, _ = p.Last()
			}
		}()
	}
	wg.Wait()
	if n := len(p.Requests()); n != workers*20 {
		t.Errorf("recorded %d requests, want %d", n, workers*20)
	}
	p.Reset()
}

// Hold keeps answers back until released, and counts who waits.
func TestHold(t *testing.T) {
	p := mockprovider.New("gate")
	srv := httptest.NewServer(p)
	defer srv.Close()
	release := p.Hold()
	done := make(chan int, 3)
	for range 3 {
		go func() {
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	for p.Waiting() != 3 {
		runtime.Gosched()
	}
	select {
	case code := <-done:
		t.Fatalf("an answer (%d) passed the gate", code)
	default:
	}
	release()
	release()
	for range 3 {
		if code := <-done; code != 200 {
			t.Errorf("status %d after release, want 200", code)
		}
	}
	if p.Waiting() != 0 {
		t.Errorf("Waiting %d after release", p.Waiting())
	}
}

// HoldStreams stops a stream after its first events until released.
func TestHoldStreams(t *testing.T) {
	p := mockprovider.New("gate")
	srv := httptest.NewServer(p)
	defer srv.Close()
	release := p.HoldStreams(2)
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi there"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	events := 0
	for events < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			events++
		}
	}
	for p.StreamsHeld() != 1 {
		runtime.Gosched()
	}
	release()
	rest, err := io.ReadAll(r)
	if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("after release: %q %v", rest, err)
	}
}
