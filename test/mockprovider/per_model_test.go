package mockprovider_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpen/router/test/mockprovider"
)

const extractionSchema = `{"type":"object","properties":{"payer":{"type":"string"},"amount":{"type":"number","minimum":0.5}},"required":["payer","amount"]}`

func structuredChat(stream bool) string {
	return `{"model":"gpt-4o-mini","stream":` + map[bool]string{true: "true", false: "false"}[stream] +
		`,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Alice paid 12.50 USD"}],` +
		`"response_format":{"type":"json_schema","json_schema":{"name":"extraction","schema":` + extractionSchema + `}}}`
}

// A json_schema response_format gets an answer that validates against the schema, whole or
// streamed in pieces that join to the same answer.
func TestResponseFormatJSONSchema(t *testing.T) {
	const want = `{"amount":0.5,"payer":"example"}`
	_, srv := newServer(t, "openai")

	resp, data := post(t, srv, "/v1/chat/completions", structuredChat(false), nil)
	var c completion
	if err := json.Unmarshal(data, &c); err != nil || resp.StatusCode != http.StatusOK || len(c.Choices) != 1 || c.Choices[0].Message == nil {
		t.Fatalf("status %d, body %s (%v)", resp.StatusCode, data, err)
	}
	got := c.Choices[0].Message.Content
	if got != want {
		t.Errorf("content %s, want %s", got, want)
	}
	if err := validate(t, []byte(extractionSchema), []byte(got)); err != nil {
		t.Errorf("content %s does not validate: %v", got, err)
	}
	// 32 bytes go out as two 16-byte pieces; completion_tokens counts them.
	if c.Usage == nil || c.Usage.CompletionTokens != 2 {
		t.Errorf("usage %+v, want 2 completion tokens", c.Usage)
	}

	resp, data = post(t, srv, "/v1/chat/completions", structuredChat(true), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream status %d: %s", resp.StatusCode, data)
	}
	var joined strings.Builder
	for _, ev := range sseData(t, data) {
		if ev == "[DONE]" {
			continue
		}
		var ch completion
		if err := json.Unmarshal([]byte(ev), &ch); err != nil {
			t.Fatalf("event %s: %v", ev, err)
		}
		for _, choice := range ch.Choices {
			if choice.Delta != nil && choice.Delta.Content != nil {
				joined.WriteString(*choice.Delta.Content)
			}
		}
	}
	if joined.String() != want {
		t.Errorf("streamed content %s, want %s", joined.String(), want)
	}
}

// Streamed pieces of a structured answer split between characters, never inside one.
func TestResponseFormatStreamKeepsCharacters(t *testing.T) {
	_, srv := newServer(t, "openai")
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],` +
		`"response_format":{"type":"json_schema","json_schema":{"schema":{"const":"ééééééééééééé"}}}}`
	resp, data := post(t, srv, "/v1/chat/completions", body, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var joined strings.Builder
	for _, ev := range sseData(t, data) {
		var ch completion
		if ev == "[DONE]" || json.Unmarshal([]byte(ev), &ch) != nil {
			continue
		}
		for _, choice := range ch.Choices {
			if choice.Delta != nil && choice.Delta.Content != nil {
				joined.WriteString(*choice.Delta.Content)
			}
		}
	}
	if want := `"ééééééééééééé"`; joined.String() != want {
		t.Errorf("streamed content %q, want %q", joined.String(), want)
	}
}

func TestResponseFormatOther(t *testing.T) {
	tests := []struct {
		name        string
		format      string
		wantStatus  int
		wantContent string
		wantInError string
	}{
		{name: "json_object", format: `{"type":"json_object"}`, wantStatus: http.StatusOK, wantContent: `{}`},
		{name: "text", format: `{"type":"text"}`, wantStatus: http.StatusOK, wantContent: "Hello from the openai mock provider; you sent 1 message(s)."},
		{name: "json_schema without schema", format: `{"type":"json_schema","json_schema":{"name":"x"}}`, wantStatus: http.StatusBadRequest, wantInError: "needs a schema"},
		{name: "unsatisfiable schema", format: `{"type":"json_schema","json_schema":{"schema":false}}`, wantStatus: http.StatusBadRequest, wantInError: "false schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newServer(t, "openai")
			body := `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":` + tt.format + `}`
			resp, data := post(t, srv, "/v1/chat/completions", body, nil)
			if tt.wantInError != "" {
				assertOpenAIError(t, resp.StatusCode, tt.wantStatus, data, tt.wantInError)
				return
			}
			var c completion
			if err := json.Unmarshal(data, &c); err != nil || resp.StatusCode != tt.wantStatus || len(c.Choices) != 1 || c.Choices[0].Message == nil {
				t.Fatalf("status %d, body %s (%v)", resp.StatusCode, data, err)
			}
			if got := c.Choices[0].Message.Content; got != tt.wantContent {
				t.Errorf("content %q, want %q", got, tt.wantContent)
			}
		})
	}
}

// FailModel breaks one model with an OpenAI-style 500 and leaves the script to other models;
// turning it off restores the default answer.
func TestFailModel(t *testing.T) {
	p, srv := newServer(t, "openai")
	p.FailModel("gpt-4o-mini", true)
	p.Script(mockprovider.Reply{Status: http.StatusTeapot})
	broken := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	healthy := `{"model":"gpt-4.1-nano","messages":[{"role":"user","content":"hi"}]}`

	resp, data := post(t, srv, "/v1/chat/completions", broken, nil)
	var e errorBody
	if err := json.Unmarshal(data, &e); err != nil || resp.StatusCode != http.StatusInternalServerError ||
		e.Error.Type != "server_error" || string(e.Error.Code) != "null" || !strings.Contains(e.Error.Message, "gpt-4o-mini is set to fail") {
		t.Errorf("failing model: status %d, body %s", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	// The scripted reply was kept for the next request of a healthy model.
	if resp, _ := post(t, srv, "/v1/chat/completions", healthy, nil); resp.StatusCode != http.StatusTeapot {
		t.Errorf("healthy model after a failure: status %d, want the scripted %d", resp.StatusCode, http.StatusTeapot)
	}
	if resp, _ := post(t, srv, "/v1/chat/completions", healthy, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthy model: status %d", resp.StatusCode)
	}

	p.Reset()
	if resp, _ := post(t, srv, "/v1/chat/completions", broken, nil); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("after Reset: status %d, want 500 (Reset keeps the setting)", resp.StatusCode)
	}
	p.FailModel("gpt-4o-mini", false)
	if resp, _ := post(t, srv, "/v1/chat/completions", broken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after FailModel(false): status %d", resp.StatusCode)
	}
	if n := len(p.Requests()); n != 2 {
		t.Errorf("recorded %d requests since Reset, want 2 (failed ones are recorded too)", n)
	}
}

// SlowModel delays only its model's answers, in place of SetDelay's delay.
func TestSlowModel(t *testing.T) {
	const slow = 300 * time.Millisecond
	p, srv := newServer(t, "openai")
	p.SlowModel("gpt-4o-mini", slow)
	timed := func(model string) (int, time.Duration) {
		start := time.Now()
		resp, _ := post(t, srv, "/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`, nil)
		return resp.StatusCode, time.Since(start)
	}
	if status, took := timed("gpt-4o-mini"); status != http.StatusOK || took < slow {
		t.Errorf("slow model: %d after %v, want 200 after at least %v", status, took, slow)
	}
	if status, took := timed("gpt-4.1-nano"); status != http.StatusOK || took >= slow {
		t.Errorf("other model: %d after %v, want 200 well before %v", status, took, slow)
	}
	p.SetDelay(time.Hour) // the per-model delay replaces this one for its model
	if status, took := timed("gpt-4o-mini"); status != http.StatusOK || took < slow {
		t.Errorf("slow model with a global delay: %d after %v", status, took)
	}
	p.SetDelay(0)
	p.SlowModel("gpt-4o-mini", 0)
	if status, took := timed("gpt-4o-mini"); status != http.StatusOK || took >= slow {
		t.Errorf("after SlowModel(0): %d after %v", status, took)
	}
}
