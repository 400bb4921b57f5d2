// Package mockprovider is an OpenAI-compatible upstream for tests: it records every request exactly
// as it arrived, answers POST .../chat/completions with a realistic chat.completion (or an SSE
// stream of chat.completion.chunk events), and can be scripted to return fixed replies first, so
// tests can drive provider errors (429 with Retry-After, 5xx) through the sidecar. It honours
// response_format: a json_schema request gets a JSON answer valid against its schema (see
// Instance). Per upstream model it can fail or answer slowly (FailModel, SlowModel), so one
// route of a catalog can break while the others keep serving.
package mockprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxBodyBytes bounds how much of a request body the mock reads. It is far above the sidecar's
// 1 MiB limit, so anything the sidecar forwards fits; larger bodies get 413.
const MaxBodyBytes = 8 << 20

// Request is one request as the provider received it.
type Request struct {
	Method string
	// Path is the request target as received: path plus any query, before unescaping.
	Path string
	// Host is the Host header (Go's server moves it out of Header); with Envoy's auto_host_rewrite
	// it shows which hostname the proxy sent.
	Host   string
	Header http.Header
	Body   []byte
}

// Reply is a scripted reply, served verbatim: no header is added (not even Content-Type), and a
// zero Status means 200. Trailer, if set, goes after the body as HTTP trailers, announced in a
// Trailer header; that needs a chunked body, so Header must then carry no Content-Length.
type Reply struct {
	Status  int
	Header  http.Header
	Body    []byte
	Trailer http.Header
}

// Provider is an http.Handler standing in for one LLM provider. The zero value is not usable; call
// New. It is safe for concurrent use.
type Provider struct {
	name string

	mu       sync.Mutex
	requests []Request
	script   []Reply
	seq      uint64        // numbers generated ids; never reset, so ids stay unique across Reset
	delay    time.Duration // how long every answer waits before its status line
	gate     chan struct{} // while non-nil, answers wait for it to close
	waiting  int           // requests waiting at the gate
	// streamGate, while non-nil, stops each stream after streamAfter
	// events until it closes; streamsHeld counts the streams stopped.
	streamGate  chan struct{}
	streamAfter int
	streamsHeld int
	// failing and slow are keyed by the request's "model": the upstream model name, which
	// identifies one route of a catalog.
	failing map[string]bool
	slow    map[string]time.Duration
}

// New returns a provider whose generated ids and system_fingerprint contain name.
func New(name string) *Provider {
	return &Provider{name: name}
}

// Requests returns copies of all recorded requests, in arrival order.
func (p *Provider) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.requests))
	for i, r := range p.requests {
		out[i] = r.clone()
	}
	return out
}

// Last returns a copy of the most recent request, and false if none was recorded.
func (p *Provider) Last() (Request, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) == 0 {
		return Request{}, false
	}
	return p.requests[len(p.requests)-1].clone(), true
}

// Reset forgets recorded requests and any scripted replies not yet served.
func (p *Provider) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
	p.script = nil
}

// Script queues replies; the next requests, whatever their path, get them in order, and once the
// queue is empty the default behaviour resumes. Replies are copied, so callers may reuse them.
func (p *Provider) Script(replies ...Reply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range replies {
		p.script = append(p.script, Reply{Status: r.Status, Header: r.Header.Clone(), Body: bytes.Clone(r.Body), Trailer: r.Trailer.Clone()})
	}
}

// SetDelay makes every later answer, scripted or not, wait d before sending anything, like a
// provider that takes its time to start answering; a client that hangs up ends the wait. Zero
// turns the delay off. Reset keeps it.
func (p *Provider) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// FailModel makes every later request for model (its "model" field) get a 500 with an
// OpenAI-style server_error body, like a provider whose model is down, or serve normally again
// when fail is false. Such a request takes no scripted reply. Reset keeps the setting.
func (p *Provider) FailModel(model string, fail bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !fail {
		delete(p.failing, model)
		return
	}
	if p.failing == nil {
		p.failing = map[string]bool{}
	}
	p.failing[model] = true
}

// SlowModel makes every later answer to a request for model wait d before sending anything,
// instead of the delay of SetDelay; zero removes the setting. Reset keeps it.
func (p *Provider) SlowModel(model string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d <= 0 {
		delete(p.slow, model)
		return
	}
	if p.slow == nil {
		p.slow = map[string]time.Duration{}
	}
	p.slow[model] = d
}

// Hold makes every later answer wait, before sending anything, until the
// returned release is called (or the client hangs up), so a test can have
// many requests in flight at once and know it. release is idempotent.
func (p *Provider) Hold() (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gate := make(chan struct{})
	p.gate = gate
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			if p.gate == gate {
				p.gate = nil
			}
			p.mu.Unlock()
			close(gate)
		})
	}
}

// HoldStreams makes every later stream stop after its first after events
// (sent and flushed) until release is called or the client hangs up: a
// stream cut off mid-way. release is idempotent.
func (p *Provider) HoldStreams(after int) (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gate := make(chan struct{})
	p.streamGate, p.streamAfter = gate, after
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			if p.streamGate == gate {
				p.streamGate = nil
			}
			p.mu.Unlock()
			close(gate)
		})
	}
}

// StreamsHeld is how many streams stopped at the gate of HoldStreams, in
// all.
func (p *Provider) StreamsHeld() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.streamsHeld
}

// Waiting is how many requests wait at the gate of Hold now.
func (p *Provider) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

func (r Request) clone() Request {
	return Request{Method: r.Method, Path: r.Path, Host: r.Host, Header: r.Header.Clone(), Body: bytes.Clone(r.Body)}
}

// ServeHTTP records the request, then serves the next scripted reply or the default behaviour.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	rec := Request{Method: r.Method, Path: target, Host: r.Host, Header: r.Header.Clone(), Body: body}
	model := modelOf(body)

	// Recording and taking a scripted reply happen under one lock, so the n-th request to arrive
	// is the one that gets the n-th scripted reply.
	p.mu.Lock()
	p.requests = append(p.requests, rec)
	failing := model != "" && p.failing[model]
	var scripted Reply
	haveScript := false
	if !failing {
		scripted, haveScript = p.popScriptLocked()
	}
	p.seq++
	seq := p.seq
	delay := p.delay
	if d, ok := p.slow[model]; ok && model != "" {
		delay = d
	}
	gate := p.gate
	if gate != nil {
		p.waiting++
	}
	p.mu.Unlock()

	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		if r.Context().Err() != nil {
			return
		}
	}

	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	if failing {
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{
			Message: fmt.Sprintf("The server had an error while processing your request. (mock provider: model %s is set to fail)", model),
			Type:    "server_error",
		}})
		return
	}
	if haveScript {
		serveScripted(w, scripted)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		// OpenAI answers unknown routes, and known routes with the wrong method, this way.
		writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	if readErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(readErr, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("Request body exceeds %d bytes.", MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "Could not read the request body: "+readErr.Error())
		return
	}
	req, bad := parseChatRequest(body)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: *bad})
		return
	}
	p.serveCompletion(r.Context(), w, req, seq)
}

func (p *Provider) popScriptLocked() (Reply, bool) {
	if len(p.script) == 0 {
		return Reply{}, false
	}
	r := p.script[0]
	p.script = p.script[1:]
	return r, true
}

func serveScripted(w http.ResponseWriter, r Reply) {
	h := w.Header()
	for k, vs := range r.Header {
		h[k] = append([]string(nil), vs...)
	}
	if _, ok := h["Content-Type"]; !ok {
		// A nil value stops net/http from sniffing one, keeping the reply verbatim.
		h["Content-Type"] = nil
	}
	for k := range r.Trailer {
		h.Add("Trailer", http.CanonicalHeaderKey(k))
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(r.Body) // the client hung up; nothing left to tell it
	// Values of announced keys set after the body go out as trailers.
	for k, vs := range r.Trailer {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
}

// chatRequest holds the request fields the mock uses; everything else is ignored, as a provider
// ignores fields it does not act on.
type chatRequest struct {
	Model          string          `json:"model"`
	Messages       []chatMessage   `json:"messages"`
	Stream         bool            `json:"stream"`
	StreamOptions  *streamOptions  `json:"stream_options"`
	ResponseFormat *responseFormat `json:"response_format"`
}

// responseFormat is OpenAI's structured-output request: type "json_schema" with the schema under
// json_schema.schema, or "json_object" for any JSON object.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// parseChatRequest decodes a chat request, or returns the OpenAI-style 400 error to send back.
func parseChatRequest(body []byte) (chatRequest, *errorDetail) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return chatRequest{}, &errorDetail{
			Message: "We could not parse the JSON body of your request. (" + err.Error() + ")",
			Type:    "invalid_request_error",
		}
	}
	if req.Model == "" {
		return chatRequest{}, badParam("model", "you must provide a model parameter")
	}
	if len(req.Messages) == 0 {
		return chatRequest{}, badParam("messages", "'messages' must contain at least one message")
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_schema" && (rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0) {
		return chatRequest{}, badParam("response_format.json_schema.schema", "a json_schema response_format needs a schema")
	}
	return req, nil
}

// modelOf returns the JSON body's "model", or "" when there is none.
func modelOf(body []byte) string {
	var req struct {
		Model string `json:"model"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	return req.Model
}

func badParam(param, msg string) *errorDetail {
	return &errorDetail{Message: msg, Type: "invalid_request_error", Param: &param}
}

// The response shapes, field for field as OpenAI sends them (null fields included).
type (
	completion struct {
		ID                string   `json:"id"`
		Object            string   `json:"object"`
		Created           int64    `json:"created"`
		Model             string   `json:"model"`
		Choices           []choice `json:"choices"`
		Usage             usage    `json:"usage"`
		ServiceTier       string   `json:"service_tier"`
		SystemFingerprint string   `json:"system_fingerprint"`
	}
	choice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		Logprobs     any     `json:"logprobs"`
		FinishReason string  `json:"finish_reason"`
	}
	message struct {
		Role    string  `json:"role"`
		Content string  `json:"content"`
		Refusal *string `json:"refusal"`
	}
	usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
	chunk struct {
		ID                string        `json:"id"`
		Object            string        `json:"object"`
		Created           int64         `json:"created"`
		Model             string        `json:"model"`
		ServiceTier       string        `json:"service_tier"`
		SystemFingerprint string        `json:"system_fingerprint"`
		Choices           []chunkChoice `json:"choices"`
		// With include_usage, OpenAI sends "usage": null on every chunk but the last; without it,
		// no usage key at all. A nil RawMessage is omitted, json.RawMessage("null") is null.
		Usage json.RawMessage `json:"usage,omitempty"`
	}
	chunkChoice struct {
		Index        int     `json:"index"`
		Delta        delta   `json:"delta"`
		Logprobs     any     `json:"logprobs"`
		FinishReason *string `json:"finish_reason"`
	}
	delta struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
	errorBody struct {
		Error errorDetail `json:"error"`
	}
	errorDetail struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
)

// jsonPiece is how many bytes of a JSON answer go in one streamed delta.
const jsonPiece = 16

// replyWords is the assistant's answer, one streamed delta per word (per jsonPiece bytes of a
// structured answer); completion_tokens counts them, so the stream and the plain answer agree.
// A structured answer whose schema has no instance the generator can build gets a 400.
func (p *Provider) replyWords(req chatRequest) ([]string, *errorDetail) {
	if rf := req.ResponseFormat; rf != nil {
		var answer []byte
		switch rf.Type {
		case "json_object":
			answer = []byte("{}")
		case "json_schema":
			var err error
			if answer, err = Instance(rf.JSONSchema.Schema); err != nil {
				return nil, badParam("response_format.json_schema.schema", err.Error())
			}
		}
		if answer != nil {
			var pieces []string
			for len(answer) > jsonPiece {
				cut := jsonPiece
				for cut > 1 && !utf8.RuneStart(answer[cut]) {
					cut-- // whole characters only: each piece is a JSON string of its own
				}
				pieces = append(pieces, string(answer[:cut]))
				answer = answer[cut:]
			}
			return append(pieces, string(answer)), nil
		}
	}
	words := strings.Fields(fmt.Sprintf("Hello from the %s mock provider; you sent %d message(s).", p.name, len(req.Messages)))
	for i := range words[:len(words)-1] {
		words[i] += " "
	}
	return words, nil
}

// promptTokens is a deterministic stand-in for a tokenizer: 1 per message plus 1 per started 4
// bytes of its content (a string's text, or the raw JSON of multi-part content).
func promptTokens(msgs []chatMessage) int {
	n := 0
	for _, m := range msgs {
		n += 1 + (contentLen(m.Content)+3)/4
	}
	return n
}

func contentLen(raw json.RawMessage) int {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return len(s)
	}
	if string(raw) == "null" {
		return 0
	}
	return len(raw)
}

func (p *Provider) serveCompletion(ctx context.Context, w http.ResponseWriter, req chatRequest, seq uint64) {
	words, bad := p.replyWords(req)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: *bad})
		return
	}
	u := usage{PromptTokens: promptTokens(req.Messages), CompletionTokens: len(words)}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	id := "chatcmpl-" + p.name + "-" + strconv.FormatUint(seq, 10)
	fingerprint := "fp_" + p.name
	created := time.Now().Unix()

	if req.Stream {
		includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		p.serveStream(ctx, w, req.Model, id, fingerprint, created, words, u, includeUsage)
		return
	}
	resp := completion{
		ID:      id,
		Object:  "chat.completion",
		Created: created,
		Model:   req.Model,
		Choices: []choice{{
			Index:        0,
			Message:      message{Role: "assistant", Content: strings.Join(words, "")},
			FinishReason: "stop",
		}},
		Usage:             u,
		ServiceTier:       "default",
		SystemFingerprint: fingerprint,
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *Provider) serveStream(ctx context.Context, w http.ResponseWriter, model, id, fingerprint string, created int64,
	words []string, u usage, includeUsage bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	base := chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
		ServiceTier: "default", SystemFingerprint: fingerprint}
	if includeUsage {
		base.Usage = json.RawMessage("null")
	}
	one := func(d delta, finish *string) chunk {
		c := base
		c.Choices = []chunkChoice{{Index: 0, Delta: d, FinishReason: finish}}
		return c
	}

	empty, stop := "", "stop"
	events := make([]chunk, 0, len(words)+3)
	events = append(events, one(delta{Role: "assistant", Content: &empty}, nil))
	for _, word := range words {
		events = append(events, one(delta{Content: &word}, nil))
	}
	events = append(events, one(delta{}, &stop))
	if includeUsage {
		last := base
		last.Choices = []chunkChoice{}
		last.Usage, _ = json.Marshal(u) // a struct of ints always marshals
		events = append(events, last)
	}

	p.mu.Lock()
	gate, after := p.streamGate, p.streamAfter
	p.mu.Unlock()
	rc := http.NewResponseController(w)
	for i, ev := range events {
		if gate != nil && i == after {
			p.mu.Lock()
			p.streamsHeld++
			p.mu.Unlock()
			select {
			case <-gate:
			case <-ctx.Done():
				return
			}
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return // cannot happen for these types; the truncated stream would show it
		}
		if !writeEvent(w, rc, data) {
			return
		}
	}
	writeEvent(w, rc, []byte("[DONE]"))
}

// writeEvent writes one SSE event and flushes it, so clients (and Envoy) see events arrive
// separately, as they do from a real provider. It reports false once the client is gone.
func writeEvent(w http.ResponseWriter, rc *http.ResponseController, data []byte) bool {
	if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
		return false
	}
	return rc.Flush() == nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Message: msg, Type: "invalid_request_error"}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "mockprovider: encode reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data) // the client hung up; nothing left to tell it
}
