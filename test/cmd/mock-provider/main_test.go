package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--name", "demo", "--fail-model", "gpt-4o-mini", "--fail-model", "a=b",
		"--slow-model", "gemini-2.0-flash=3s", "--slow-model", "org/m=x=250ms", "--slow-model", "gemini-2.0-flash=1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.failing.String(); got != "gpt-4o-mini,a=b" {
		t.Errorf("fail models %q", got)
	}
	// The last "=" splits, and a later value for a model wins.
	if got := o.slow.String(); got != "gemini-2.0-flash=1s,org/m=x=250ms" {
		t.Errorf("slow models %q", got)
	}
	if o.name != "demo" || o.listen != "127.0.0.1:18080" || o.delay != 0 {
		t.Errorf("options %+v", o)
	}
}

func TestParseFlagsRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "slow without duration", args: []string{"--slow-model", "m"}, want: "is not MODEL=DURATION"},
		{name: "slow bad duration", args: []string{"--slow-model", "m=soon"}, want: "invalid duration"},
		{name: "slow zero duration", args: []string{"--slow-model", "m=0s"}, want: "is not positive"},
		{name: "slow empty model", args: []string{"--slow-model", "=1s"}, want: "empty model name"},
		{name: "fail empty model", args: []string{"--fail-model", " "}, want: "empty model name"},
		{name: "stray argument", args: []string{"extra"}, want: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one with %q", err, tt.want)
			}
		})
	}
}

// The flags reach the provider: a failing model gets a 500, a slow one waits, others answer.
func TestFlagsConfigureProvider(t *testing.T) {
	const slow = 200 * time.Millisecond
	o, err := parseFlags([]string{"--fail-model", "broken", "--slow-model", "sluggish=" + slow.String()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o.provider())
	t.Cleanup(srv.Close)
	tests := []struct {
		model      string
		wantStatus int
		wantSlow   bool
	}{
		{model: "broken", wantStatus: http.StatusInternalServerError},
		{model: "sluggish", wantStatus: http.StatusOK, wantSlow: true},
		{model: "fine", wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			start := time.Now()
			resp, err := srv.Client().Post(srv.URL+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"`+tt.model+`","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != tt.wantStatus || (took >= slow) != tt.wantSlow {
				t.Errorf("status %d after %v, want %d (slow: %v)", resp.StatusCode, took, tt.wantStatus, tt.wantSlow)
			}
		})
	}
}
