package e2e

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cpen/router/test/mockprovider"
	"github.com/cpen/router/test/standin"
)

// startStandinStack is startStack with the stand-in always in front (its
// settings adjusted by edit), for what only the stand-in can be told to do.
func startStandinStack(t *testing.T, edit func(*standin.Config)) (*stack, *standin.Proxy) {
	t.Helper()
	s := &stack{t: t, provA: mockprovider.New("a"), provB: mockprovider.New("b")}
	s.sidecar = startSidecar(t, writeCatalog(t))
	srvA, srvB := httptest.NewServer(s.provA), httptest.NewServer(s.provB)
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	cfg := standin.ProjectConfig(s.grpcAddr, map[string]string{"mock_a": srvA.URL, "mock_b": srvB.URL})
	edit(&cfg)
	proxy, err := standin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(func() { front.Close(); _ = proxy.Close() })
	s.url = front.URL
	return s, proxy
}

// Envoy pings the sidecar's connection every connection_keepalive.interval
// whatever the traffic. A chat whose provider takes 3 s to answer holds a
// silent ext_proc stream across some sixty PINGs 50 ms apart; the sidecar
// must take them without GOAWAY too_many_pings, which would fail the
// request with 500.
func TestKeepaliveAcrossSlowProvider(t *testing.T) {
	s, proxy := startStandinStack(t, func(c *standin.Config) { c.KeepaliveInterval = 50 * time.Millisecond })
	s.provA.SetDelay(3 * time.Second)
	s.provB.SetDelay(3 * time.Second)
	comp, _, err := chat(t, s, seedKey, "cpen/middle", nil)
	st := proxy.Stats()
	if err != nil {
		t.Fatalf("chat across the PINGs: %v (stand-in stats %+v)", err, st)
	}
	if got := comp.JSON.ExtraFields["cpen_status"].Raw(); got != `"completed"` {
		t.Errorf("cpen_status %s, want \"completed\"", got)
	}
	// About 3 s / (50 ms + an ACK's round trip); far fewer means no PINGs
	// went by during the wait and the test proved nothing.
	if st.KeepalivePingsAcked < 20 || st.KeepaliveTimeouts != 0 || st.StreamsFailed != 0 {
		t.Errorf("stand-in stats %+v, want >= 20 PINGs acked, no keepalive timeout, no failed stream", st)
	}
}
