package mockprovider_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpen/router/test/mockprovider"
)

// A scripted reply's trailers arrive after its body, announced up front.
func TestScriptedTrailers(t *testing.T) {
	p, srv := newServer(t, "openai")
	reply := mockprovider.Reply{
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    []byte(`{"ok":true}`),
		Trailer: http.Header{"x-usage": {"42"}},
	}
	p.Script(reply)
	reply.Trailer.Set("x-usage", "changed") // Script must have copied it
	resp, data := post(t, srv, "/v1/chat/completions", `{}`, nil)
	if resp.StatusCode != 200 || string(data) != `{"ok":true}` {
		t.Fatalf("got %d %q", resp.StatusCode, data)
	}
	if got := resp.Trailer.Values("X-Usage"); !slices.Equal(got, []string{"42"}) {
		t.Errorf("trailer X-Usage = %q, want 42 (resp.Trailer %v)", got, resp.Trailer)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding = %v, want chunked", resp.TransferEncoding)
	}
}

// SetDelay holds every answer back, scripted or not; a client that gives up
// ends the wait.
func TestDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	p, srv := newServer(t, "openai")
	p.SetDelay(delay)
	p.Script(mockprovider.Reply{Status: http.StatusTeapot})
	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	for _, want := range []int{http.StatusTeapot, http.StatusOK} {
		start := time.Now()
		resp, _ := post(t, srv, "/v1/chat/completions", chat, nil)
		if took := time.Since(start); resp.StatusCode != want || took < delay {
			t.Errorf("status %d after %v, want %d after at least %v", resp.StatusCode, took, want, delay)
		}
	}

	p.SetDelay(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(chat))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	// The handler returns once the client is gone: srv.Close in the cleanup
	// would otherwise wait an hour, and goleak would see it.
	if n := len(p.Requests()); n != 3 {
		t.Errorf("recorded %d requests, want 3 (the delayed ones too)", n)
	}
}
