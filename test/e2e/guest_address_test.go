package e2e

import (
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cpen/router/test/standin"
)

// guest is one playground client connecting from its own loopback address.
type guest struct {
	t      *testing.T
	client openai.Client
}

func newGuest(t *testing.T, s *stack, from string) guest {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	opts := append(optionsFor(s.url+"/playground/v1/"), option.WithHTTPClient(&http.Client{Transport: tr}))
	return guest{t: t, client: openai.NewClient(opts...)}
}

// chat sends one playground chat, with an x-forwarded-for header unless xff
// is empty, and returns the status (200 or the API error's).
func (g guest) chat(xff string) (int, *openai.Error) {
	g.t.Helper()
	var opts []option.RequestOption
	if xff != "" {
		opts = append(opts, option.WithHeader("X-Forwarded-For", xff))
	}
	_, err := g.client.Chat.Completions.New(ctx(g.t), openai.ChatCompletionNewParams{
		Model:    "cpen/low",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	}, opts...)
	if err == nil {
		return http.StatusOK, nil
	}
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		g.t.Fatalf("playground chat: %v", err)
	}
	return apiErr.StatusCode, apiErr
}

type guestStep struct {
	who    string // a key of the test's guests
	xff    string
	status int
}

func runGuestSteps(t *testing.T, guests map[string]guest, steps []guestStep) {
	t.Helper()
	for i, st := range steps {
		got, apiErr := guests[st.who].chat(st.xff)
		if got != st.status {
			t.Fatalf("step %d (%s, x-forwarded-for %q): status %d, want %d (%v)", i, st.who, st.xff, got, st.status, apiErr)
		}
		if got == http.StatusTooManyRequests && apiErr.Response.Header.Get("Retry-After") == "" {
			t.Errorf("step %d: 429 without Retry-After", i)
		}
	}
}

// The playground's limit (guest_rpm 2) counts per client address as Envoy
// determined it, the source.address attribute, never per x-forwarded-for
// entry a client can write.
func TestGuestAddress(t *testing.T) {
	tests := []struct {
		name  string
		hops  int
		from  map[string]string // guest name -> loopback address it connects from
		steps []guestStep
	}{
		{
			name: "two clients on their own addresses have their own budgets",
			from: map[string]string{"a": "127.0.0.2", "b": "127.0.0.3"},
			steps: []guestStep{
				{who: "a", status: 200}, {who: "a", status: 200},
				{who: "b", status: 200}, {who: "b", status: 200},
				{who: "a", status: 429}, {who: "b", status: 429},
			},
		},
		{
			name: "a client writing a new x-forwarded-for each time gains nothing",
			from: map[string]string{"a": "127.0.0.2"},
			steps: []guestStep{
				{who: "a", xff: "203.0.113.1", status: 200},
				{who: "a", xff: "203.0.113.2", status: 200},
				{who: "a", xff: "203.0.113.3", status: 429},
				{who: "a", xff: "203.0.113.4, 198.51.100.9", status: 429},
			},
		},
		{
			// Both guests reach Envoy through one balancer, which appends each
			// guest's address to x-forwarded-for; Envoy trusts that one hop.
			name: "one trusted hop: guests behind one balancer have their own budgets",
			hops: 1,
			from: map[string]string{"balancer": "127.0.0.2", "balancer2": "127.0.0.3"},
			steps: []guestStep{
				{who: "balancer", xff: "203.0.113.10", status: 200},
				{who: "balancer", xff: "203.0.113.10", status: 200},
				{who: "balancer", xff: "203.0.113.11", status: 200},
				{who: "balancer", xff: "203.0.113.11", status: 200},
				{who: "balancer", xff: "203.0.113.10", status: 429},
				// A forged entry in front of the balancer's changes nothing.
				{who: "balancer", xff: "198.51.100.9, 203.0.113.11", status: 429},
				// Nor does another balancer connection: the guest is the key.
				{who: "balancer2", xff: "203.0.113.10", status: 429},
				{who: "balancer2", xff: "203.0.113.12", status: 200},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := startStandinStack(t, func(c *standin.Config) { c.XFFNumTrustedHops = tc.hops })
			guests := map[string]guest{}
			for name, from := range tc.from {
				guests[name] = newGuest(t, s, from)
			}
			runGuestSteps(t, guests, tc.steps)
		})
	}
}

// Envoy configured without request_attributes sends no source.address; the
// playground refuses such requests instead of pooling them under one budget.
func TestGuestWithoutAddress(t *testing.T) {
	s, _ := startStandinStack(t, func(c *standin.Config) { c.RequestAttributes = nil })
	status, apiErr := newGuest(t, s, "127.0.0.2").chat("")
	if status != http.StatusServiceUnavailable || apiErr == nil || apiErr.Code != "client_address_unknown" {
		t.Fatalf("status %d, error %v; want 503 client_address_unknown", status, apiErr)
	}
}
