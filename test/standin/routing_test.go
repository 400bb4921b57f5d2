package standin

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Checklist 8: the route cache, cluster_header and cluster_not_found.
func TestRouteCache(t *testing.T) {
	toB := hm(nil, setRaw(clusterHeader, "b"))
	tests := []struct {
		name        string
		clientHdr   []string
		headersAns  *extprocv3.CommonResponse
		bodyAns     *extprocv3.CommonResponse
		respAns     *extprocv3.CommonResponse
		want        string // cluster that got the request, or "503"
		wantIgnored uint64
	}{
		{name: "clear with a header mutation re-routes", clientHdr: []string{clusterHeader, "a"}, bodyAns: cr(withHM(toB), withClearRoute()), want: "b"},
		{name: "without clear the cached route stays", clientHdr: []string{clusterHeader, "a"}, bodyAns: cr(withHM(toB)), want: "a"},
		{
			// The headers answer changed the header without a clear; the body
			// answer's clear has no header mutation of its own.
			name: "clear without a header mutation is ignored", clientHdr: []string{clusterHeader, "a"},
			headersAns: cr(withHM(toB)), bodyAns: cr(withClearRoute()), want: "a", wantIgnored: 1,
		},
		{
			name:       "ignored clear and no cluster is 503",
			headersAns: cr(withHM(hm(nil, setRaw(clusterHeader, "a")))), bodyAns: cr(withClearRoute()), want: "503", wantIgnored: 1,
		},
		{name: "missing cluster header is 503", want: "503"},
		{name: "unknown cluster is 503", clientHdr: []string{clusterHeader, "a"}, bodyAns: cr(withHM(hm(nil, setRaw(clusterHeader, "nope"))), withClearRoute()), want: "503"},
		{name: "only the first value counts", clientHdr: []string{clusterHeader, "b", clusterHeader, "a"}, want: "b"},
		{
			// The clear only drops the cache; the router recomputes the route
			// from the headers as they are when it runs.
			name: "route is recomputed when the router runs", clientHdr: []string{clusterHeader, "a"},
			headersAns: cr(withHM(hm(nil, setRaw("x-other", "1"))), withClearRoute()), bodyAns: cr(withHM(toB)), want: "b",
		},
		{name: "clear in a response answer is not counted", clientHdr: []string{clusterHeader, "a"}, respAns: cr(withClearRoute()), want: "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := []action{on(kindRequestHeaders, reqHeadersAns(tc.headersAns)), on(kindRequestBody, reqBodyAns(tc.bodyAns))}
			if tc.want == "503" {
				script = append(script, on(kindResponseHeaders, respHeadersAns(nil)))
			} else {
				script = append(script, on(kindResponseHeaders, respHeadersAns(tc.respAns)), on(kindResponseBody, respBodyAns(nil)))
			}
			h := start(t, setup{scripts: [][]action{script}})
			res := h.do(t, h.newReq(t, http.MethodPost, "/v1/chat/completions", `{"model":"m"}`, tc.clientHdr...))
			logs := h.fake.waitStreams(t, 1)
			if got := h.proxy.Stats().ClearRouteCacheIgnored; got != tc.wantIgnored {
				t.Errorf("clear_route_cache_ignored = %d, want %d", got, tc.wantIgnored)
			}
			if tc.want == "503" {
				if res.status != 503 || res.body != "" || res.header.Get("Content-Type") != "" {
					t.Fatalf("client got %d %q %v, want an empty 503", res.status, res.body, res.header)
				}
				if n := len(h.ups["a"].requests()) + len(h.ups["b"].requests()); n != 0 {
					t.Errorf("upstream calls = %d, want 0", n)
				}
				// cluster_not_found goes through ext_proc's response path.
				msgs := logs[0].messages()
				rh := headersOf(msgs[len(msgs)-1])
				if kindOf(msgs[len(msgs)-1]) != kindResponseHeaders || !rh.GetEndOfStream() ||
					!equalStrings(values(pairs(t, rh.GetHeaders()), ":status"), []string{"503"}) {
					t.Errorf("last message = %v, want response_headers :status 503 end_of_stream", msgs[len(msgs)-1])
				}
				return
			}
			if res.status != 200 {
				t.Fatalf("status = %d (%v)", res.status, res.err)
			}
			if got := res.header.Get("X-Upstream"); got != tc.want {
				t.Errorf("request went to %q, want %q", got, tc.want)
			}
		})
	}
}

func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Checklist 13: Envoy's own replies go through the response path while
// ext_proc has not finished, and a stream may start at response_headers.
func TestEnvoyLocalReplies(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		clientHdr  []string
		upstream   http.HandlerFunc
		script     []action
		wantStatus int
		wantBody   string // prefix
		wantKinds  []string
		wantHeader string // set by the server on the local reply
		wantSeen   string // :status the server saw in response_headers
	}{
		{
			name: "headers SKIP and cluster_not_found: the stream starts at response_headers",
			cfg: Config{Mode: &extprocfilterv3.ProcessingMode{
				RequestHeaderMode: extprocfilterv3.ProcessingMode_SKIP, RequestBodyMode: modeBuffered, ResponseBodyMode: modeBuffered,
			}},
			script:     []action{on(kindResponseHeaders, respHeadersAns(cr(withHM(hm(nil, setRaw("x-added", "yes"))))))},
			wantStatus: 503, wantKinds: []string{"response_headers"}, wantHeader: "yes", wantSeen: "503",
		},
		{
			name:       "upstream connection refused",
			cfg:        Config{Clusters: map[string]string{"a": "http://" + closedAddr(t)}},
			clientHdr:  []string{clusterHeader, "a"},
			script:     passAll(),
			wantStatus: 503, wantBody: "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure",
			wantKinds: fullKinds(), wantSeen: "503",
		},
		{
			name:      "route timeout",
			cfg:       Config{RouteTimeout: 300 * time.Millisecond},
			clientHdr: []string{clusterHeader, "a"},
			upstream: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(waitLimit):
				}
			},
			script:     passAll(),
			wantStatus: 504, wantBody: "upstream request timeout", wantKinds: fullKinds(), wantSeen: "504",
		},
		{
			name:      "the server may replace Envoy's reply",
			clientHdr: []string{clusterHeader, "nope"},
			script: []action{
				on(kindRequestHeaders, reqHeadersAns(nil)), on(kindRequestBody, reqBodyAns(nil)),
				on(kindResponseHeaders, immediate(502, "no route", nil)),
			},
			wantStatus: 502, wantBody: "no route", wantKinds: []string{"request_headers", "request_body", "response_headers"}, wantSeen: "503",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{cfg: tc.cfg, upstream: tc.upstream, scripts: [][]action{tc.script}})
			res := h.do(t, h.newReq(t, http.MethodPost, "/v1/chat/completions", `{"model":"m"}`, tc.clientHdr...))
			if res.status != tc.wantStatus || !strings.HasPrefix(res.body, tc.wantBody) {
				t.Fatalf("client got %d %q (%v), want %d %q", res.status, res.body, res.err, tc.wantStatus, tc.wantBody)
			}
			if tc.wantBody != "" && res.header.Get("Content-Type") != "text/plain" {
				t.Errorf("local reply content-type = %q, want text/plain", res.header.Get("Content-Type"))
			}
			if got := res.header.Get("X-Added"); got != tc.wantHeader {
				t.Errorf("x-added = %q, want %q", got, tc.wantHeader)
			}
			logs := h.fake.waitStreams(t, 1)
			if got := logs[0].kinds(); !equalStrings(got, tc.wantKinds) {
				t.Fatalf("messages = %v, want %v", got, tc.wantKinds)
			}
			msgs := logs[0].messages()
			if msgs[0].GetProtocolConfig() == nil {
				t.Errorf("first message lacks protocol_config")
			}
			for _, m := range msgs {
				if kindOf(m) == kindResponseHeaders {
					if got := values(pairs(t, m.GetResponseHeaders().GetHeaders()), ":status"); !equalStrings(got, []string{tc.wantSeen}) {
						t.Errorf("response_headers :status = %v, want %s", got, tc.wantSeen)
					}
				}
				if kindOf(m) == kindResponseBody && tc.wantStatus != 502 && !strings.HasPrefix(string(m.GetResponseBody().GetBody()), tc.wantBody) {
					t.Errorf("response_body = %q, want Envoy's %q", m.GetResponseBody().GetBody(), tc.wantBody)
				}
			}
		})
	}
}

// Checklist 12: what the upstream and the server see of a forwarded request.
func TestForwarding(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		path      string
		hdr       []string
		check     func(t *testing.T, reqHdrs [][2]string, up recorded)
		checkResp func(t *testing.T, respHdrs [][2]string, res result)
	}{
		{
			name: "request line, host rewrite and headers",
			path: "/v1/chat/completions?a=1&b=2",
			hdr:  []string{"Connection", "keep-alive", "X-Custom", "c"},
			check: func(t *testing.T, _ [][2]string, up recorded) {
				if up.method != http.MethodPost || up.path != "/v1/chat/completions?a=1&b=2" || up.host != "127.0.0.1" {
					t.Errorf("upstream got %s %s host %s", up.method, up.path, up.host)
				}
				if up.header.Get("X-Custom") != "c" || up.header.Get("X-Request-Id") != "generated-id" || up.header.Get("X-Forwarded-Proto") != "http" {
					t.Errorf("upstream headers = %v", up.header)
				}
				if up.header.Get("User-Agent") != "Go-http-client/1.1" {
					t.Errorf("client's user-agent not passed through: %q", up.header.Get("User-Agent"))
				}
			},
			checkResp: func(t *testing.T, ps [][2]string, res result) {
				if ps[0] != [2]string{":status", "201"} {
					t.Errorf("response_headers start %v, want :status 201", ps[0])
				}
				if got := values(ps, "x-upstream"); !equalStrings(got, []string{"a"}) {
					t.Errorf("x-upstream = %v", got)
				}
				if len(values(ps, "x-envoy-upstream-service-time")) != 1 {
					t.Errorf("x-envoy-upstream-service-time missing: %v", ps)
				}
				if res.status != 201 || res.header.Get("X-Upstream") != "a" {
					t.Errorf("client got %d %v", res.status, res.header)
				}
			},
		},
		{
			name: "envoy.yaml options",
			cfg: Config{
				UseRemoteAddress: true, NormalizePath: true, MergeSlashes: true, SuppressEnvoyHeaders: true,
				RequestHeadersToRemove: []string{clusterHeader, "x-forwarded-for"},
				LocalAddress:           "192.0.2.77",
			},
			path: "/v1//chat/../chat/completions?q=a//b",
			hdr:  []string{"X-Forwarded-For", "203.0.113.9"},
			check: func(t *testing.T, ps [][2]string, up recorded) {
				if got := values(ps, ":path"); !equalStrings(got, []string{"/v1/chat/completions?q=a//b"}) {
					t.Errorf(":path = %v", got)
				}
				// A loopback peer is replaced by Envoy's own address.
				if got := values(ps, "x-forwarded-for"); !equalStrings(got, []string{"203.0.113.9,192.0.2.77"}) {
					t.Errorf("x-forwarded-for = %v", got)
				}
				if up.path != "/v1/chat/completions?q=a//b" {
					t.Errorf("upstream path = %s", up.path)
				}
				if up.header.Get("X-Cluster") != "" || up.header.Get("X-Forwarded-For") != "" {
					t.Errorf("request_headers_to_remove not applied: %v", up.header)
				}
			},
			checkResp: func(t *testing.T, ps [][2]string, _ result) {
				if len(values(ps, "x-envoy-upstream-service-time")) != 0 {
					t.Errorf("suppress_envoy_headers ignored: %v", ps)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{
				cfg: tc.cfg,
				upstream: func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("X-Upstream", "a")
					w.WriteHeader(http.StatusCreated)
					_, _ = w.Write([]byte("created"))
				},
				scripts: [][]action{passAll()},
			})
			res := h.do(t, h.newReq(t, http.MethodPost, tc.path, `{"model":"m"}`, append([]string{clusterHeader, "a"}, tc.hdr...)...))
			if res.err != nil || res.body != "created" {
				t.Fatalf("client got %d %q (%v)", res.status, res.body, res.err)
			}
			msgs := h.fake.waitStreams(t, 1)[0].messages()
			tc.check(t, pairs(t, msgs[0].GetRequestHeaders().GetHeaders()), h.ups["a"].requests()[0])
			tc.checkResp(t, pairs(t, msgs[2].GetResponseHeaders().GetHeaders()), res)
		})
	}
}

// ProjectConfig mirrors envoy/envoy.yaml.
func TestProjectConfig(t *testing.T) {
	h := start(t, setup{cfg: ProjectConfig("", nil), scripts: [][]action{passAll()}})
	res := h.do(t, h.newReq(t, http.MethodPost, "/v1//chat/completions", `{"model":"m"}`, ProjectClusterHeader, "b"))
	if res.status != 200 || res.header.Get("X-Upstream") != "b" {
		t.Fatalf("client got %d %v (%v)", res.status, res.header, res.err)
	}
	msgs := h.fake.waitStreams(t, 1)[0].messages()
	ps := pairs(t, msgs[0].GetRequestHeaders().GetHeaders())
	if got, want := values(ps, "x-forwarded-for"), []string{h.proxy.localAddr.String()}; !equalStrings(got, want) {
		t.Errorf("x-forwarded-for = %v, want %v (the node address, for a loopback client)", got, want)
	}
	if got := values(ps, "x-envoy-external-address"); !equalStrings(got, []string{"127.0.0.1"}) {
		t.Errorf("x-envoy-external-address = %v, want the client address", got)
	}
	src := msgs[0].GetAttributes()[attributesKey].GetFields()[attrSourceAddress].GetStringValue()
	if !strings.HasPrefix(src, "127.0.0.1:") || src == "127.0.0.1:0" {
		t.Errorf("source.address = %q, want the client's 127.0.0.1:port", src)
	}
	if got := values(ps, ":path"); !equalStrings(got, []string{"/v1/chat/completions"}) {
		t.Errorf(":path = %v", got)
	}
	up := h.ups["b"].requests()[0]
	if up.header.Get(ProjectClusterHeader) != "" || up.header.Get("X-Forwarded-For") != "" {
		t.Errorf("upstream saw %v", up.header)
	}
	if got := values(pairs(t, msgs[2].GetResponseHeaders().GetHeaders()), "x-envoy-upstream-service-time"); got != nil {
		t.Errorf("suppress_envoy_headers: got %v", got)
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want         string
		normalize, merge bool
	}{
		{in: "/v1//chat/../chat/completions?x=a//b", want: "/v1/chat/completions?x=a//b", normalize: true, merge: true},
		{in: "/v1//chat/../chat/completions", want: "/v1//chat/completions", normalize: true},
		{in: "/a/./b/%2E%2e/c", want: "/a/c", normalize: true},
		{in: "/a/b/..", want: "/a/", normalize: true},
		{in: "/../..", want: "/", normalize: true},
		{in: "//a///b", want: "/a/b", merge: true},
		{in: "/a/../b", want: "/a/../b"},
	}
	for _, tc := range tests {
		if got := normalizePath(tc.in, tc.normalize, tc.merge); got != tc.want {
			t.Errorf("normalizePath(%q, %v, %v) = %q, want %q", tc.in, tc.normalize, tc.merge, got, tc.want)
		}
	}
}
