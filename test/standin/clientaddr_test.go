package standin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// nodeAddr stands for Envoy's own address in these tests.
const nodeAddr = "192.0.2.77"

// Checklist 15: what the connection manager makes of the client's address,
// for peers the tests could not connect from (the request is handed to the
// proxy with a made-up RemoteAddr).
func TestClientAddress(t *testing.T) {
	tests := []struct {
		name       string
		noRemote   bool // use_remote_address off
		hops       int
		remote     string
		hdr        []string // client headers, in order; repeated keys allowed
		wantXFF    []string
		wantXEA    []string // x-envoy-external-address
		wantXFP    []string
		wantSource string
	}{
		{
			name: "a peer with no x-forwarded-for", remote: "198.51.100.7:4444",
			wantXFF: []string{"198.51.100.7"}, wantXEA: []string{"198.51.100.7"}, wantXFP: []string{"http"},
			wantSource: "198.51.100.7:4444",
		},
		{
			name: "the client's x-forwarded-for is kept and the peer appended, never trusted", remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "203.0.113.5", "X-Forwarded-Proto", "https", "X-Envoy-External-Address", "203.0.113.5"},
			wantXFF: []string{"203.0.113.5,198.51.100.7"}, wantXEA: []string{"198.51.100.7"}, wantXFP: []string{"http"},
			wantSource: "198.51.100.7:4444",
		},
		{
			name: "a loopback peer is replaced by Envoy's own address in x-forwarded-for only", remote: "127.0.0.2:5555",
			wantXFF: []string{nodeAddr}, wantXEA: []string{"127.0.0.2"}, wantXFP: []string{"http"},
			wantSource: "127.0.0.2:5555",
		},
		{
			name: "an IPv6 peer", remote: "[2001:db8::7]:4444",
			wantXFF: []string{"2001:db8::7"}, wantXEA: []string{"2001:db8::7"}, wantXFP: []string{"http"},
			wantSource: "[2001:db8::7]:4444",
		},
		{
			name: "the IPv6 loopback peer", remote: "[::1]:4444",
			wantXFF: []string{nodeAddr}, wantXEA: []string{"::1"}, wantXFP: []string{"http"},
			wantSource: "[::1]:4444",
		},
		{
			name: "one trusted hop: the balancer's last entry is the client, with port 0", hops: 1, remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "10.1.1.1, 203.0.113.5", "X-Forwarded-Proto", "https"},
			wantXFF: []string{"10.1.1.1, 203.0.113.5,198.51.100.7"}, wantXEA: []string{"203.0.113.5"}, wantXFP: []string{"https"},
			wantSource: "203.0.113.5:0",
		},
		{
			name: "repeated x-forwarded-for lines are one list", hops: 1, remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "10.1.1.1", "X-Forwarded-For", "203.0.113.5"},
			wantXFF: []string{"10.1.1.1,203.0.113.5,198.51.100.7"}, wantXEA: []string{"203.0.113.5"}, wantXFP: []string{"http"},
			wantSource: "203.0.113.5:0",
		},
		{
			name: "two trusted hops skip the nearer proxy's entry", hops: 2, remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "203.0.113.5,10.1.1.1"},
			wantXFF: []string{"203.0.113.5,10.1.1.1,198.51.100.7"}, wantXEA: []string{"203.0.113.5"}, wantXFP: []string{"http"},
			wantSource: "203.0.113.5:0",
		},
		{
			name: "an IPv6 client behind the balancer", hops: 1, remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "2001:db8::5"},
			wantXFF: []string{"2001:db8::5,198.51.100.7"}, wantXEA: []string{"2001:db8::5"}, wantXFP: []string{"http"},
			wantSource: "[2001:db8::5]:0",
		},
		{
			name: "too few entries: the peer", hops: 2, remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "203.0.113.5"},
			wantXFF: []string{"203.0.113.5,198.51.100.7"}, wantXEA: []string{"198.51.100.7"}, wantXFP: []string{"http"},
			wantSource: "198.51.100.7:4444",
		},
		{
			name: "an entry with a port is no address: the peer", hops: 1, remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "203.0.113.5:8080"},
			wantXFF: []string{"203.0.113.5:8080,198.51.100.7"}, wantXEA: []string{"198.51.100.7"}, wantXFP: []string{"http"},
			wantSource: "198.51.100.7:4444",
		},
		{
			name: "trusted hops but no x-forwarded-for: the peer", hops: 1, remote: "198.51.100.7:4444",
			wantXFF: []string{"198.51.100.7"}, wantXEA: []string{"198.51.100.7"}, wantXFP: []string{"http"},
			wantSource: "198.51.100.7:4444",
		},
		{
			name: "without use_remote_address x-forwarded-for is believed and left alone", noRemote: true, remote: "198.51.100.7:4444",
			hdr:     []string{"X-Forwarded-For", "203.0.113.5", "X-Forwarded-Proto", "https"},
			wantXFF: []string{"203.0.113.5"}, wantXFP: []string{"https"},
			wantSource: "203.0.113.5:0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{
				cfg: Config{
					UseRemoteAddress: !tc.noRemote, XFFNumTrustedHops: tc.hops, LocalAddress: nodeAddr,
					RequestAttributes: []string{attrSourceAddress},
				},
				scripts: [][]action{passAll()},
			})
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
			req.RemoteAddr = tc.remote
			req.Header.Set(clusterHeader, "a")
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Add(tc.hdr[i], tc.hdr[i+1])
			}
			rec := httptest.NewRecorder()
			h.proxy.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
			}
			msgs := h.fake.waitStreams(t, 1)[0].messages()
			ps := pairs(t, msgs[0].GetRequestHeaders().GetHeaders())
			for _, c := range []struct {
				key  string
				want []string
			}{{"x-forwarded-for", tc.wantXFF}, {"x-envoy-external-address", tc.wantXEA}, {"x-forwarded-proto", tc.wantXFP}} {
				if got := values(ps, c.key); !equalStrings(got, c.want) {
					t.Errorf("%s = %q, want %q", c.key, got, c.want)
				}
			}
			if got := msgs[0].GetAttributes()[attributesKey].GetFields()[attrSourceAddress].GetStringValue(); got != tc.wantSource {
				t.Errorf("source.address = %q, want %q", got, tc.wantSource)
			}
		})
	}
}

// Attributes travel in the first request-direction message only, and only
// when configured; the peer here really connects from 127.0.0.2.
func TestRequestAttributes(t *testing.T) {
	skipHeaders := &extprocfilterv3.ProcessingMode{
		RequestHeaderMode: extprocfilterv3.ProcessingMode_SKIP, RequestBodyMode: modeBuffered,
		ResponseHeaderMode: extprocfilterv3.ProcessingMode_SEND, ResponseBodyMode: modeBuffered,
	}
	both := []string{attrSourceAddress, attrSourcePort}
	tests := []struct {
		name      string
		cfg       Config
		wantKinds []string
		wantIn    int // index of the message carrying attributes; -1 for none
	}{
		{name: "in request_headers", cfg: Config{RequestAttributes: both}, wantKinds: fullKinds(), wantIn: 0},
		{
			name:      "in request_body when the headers are skipped",
			cfg:       Config{RequestAttributes: both, Mode: skipHeaders},
			wantKinds: []string{"request_body", "response_headers", "response_body"}, wantIn: 0,
		},
		{name: "none configured, none sent", cfg: Config{}, wantKinds: fullKinds(), wantIn: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: tc.cfg, scripts: [][]action{passAll()}})
			local := make(chan string, 1)
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
			h.client = &http.Client{Transport: &http.Transport{
				DisableKeepAlives: true,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := d.DialContext(ctx, network, addr)
					if err == nil {
						local <- c.LocalAddr().String()
					}
					return c, err
				},
			}}
			if res := h.post(t, `{"model":"m"}`); res.err != nil || res.status != 200 {
				t.Fatalf("client got %d (%v)", res.status, res.err)
			}
			peer := netip.MustParseAddrPort(<-local)
			logs := h.fake.waitStreams(t, 1)
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Fatalf("messages = %v, want %v", got, tc.wantKinds)
			}
			for i, m := range logs[0].messages() {
				attrs := m.GetAttributes()
				if i != tc.wantIn {
					if attrs != nil {
						t.Errorf("message %d (%s) carries attributes %v", i, kindOf(m), attrs)
					}
					continue
				}
				checkSourceAttrs(t, attrs, peer)
			}
		})
	}
}

func checkSourceAttrs(t *testing.T, attrs map[string]*structpb.Struct, peer netip.AddrPort) {
	t.Helper()
	if len(attrs) != 1 {
		t.Fatalf("attributes = %v, want only %s", attrs, attributesKey)
	}
	f := attrs[attributesKey].GetFields()
	if len(f) != 2 || f[attrSourceAddress].GetStringValue() != peer.String() || f[attrSourcePort].GetNumberValue() != float64(peer.Port()) {
		t.Errorf("attributes = %v, want source.address %q and source.port %d", f, peer, peer.Port())
	}
	if !strings.HasPrefix(peer.String(), "127.0.0.2:") || peer.Port() == 0 {
		t.Errorf("the client connected from %s, not 127.0.0.2", peer)
	}
}

func FuzzLastXFFAddress(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "10.0.0.1, 203.0.113.5", " 2001:db8::1 ,", "1.2.3.4:80", "fe80::1%eth0", ",", "a,b,c"} {
		f.Add(s, 0)
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, xff string, skip int) {
		skip %= 8
		a, ok := lastXFFAddress(xff, skip)
		if !ok {
			if a.IsValid() {
				t.Fatalf("%q skip %d: not ok but %v", xff, skip, a)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" {
			t.Fatalf("%q skip %d: invalid result %v", xff, skip, a)
		}
		// The address is one of the entries, and exactly skip entries follow it.
		entries := strings.Split(xff, ",")
		if skip < 0 {
			skip = 0
		}
		i := len(entries) - 1 - skip
		if i < 0 {
			t.Fatalf("%q skip %d: found %v with too few entries", xff, skip, a)
		}
		if b, err := netip.ParseAddr(strings.Trim(entries[i], " \t\f\v\n\r")); err != nil || b != a {
			t.Fatalf("%q skip %d: %v, but entry %d is %q", xff, skip, a, i, entries[i])
		}
	})
}
