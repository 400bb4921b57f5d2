// Package standin is a Go stand-in for Envoy in front of an ext_proc server.
// It is not Envoy: it reproduces, message by message, what Envoy's
// ext_proc filter, router and connection manager do toward the ext_proc
// gRPC server and the client, and the access log line Envoy writes for each
// request, for the configuration this project uses
// (one route "prefix /" with cluster_header, auto_host_rewrite, HTTP/1.1
// upstreams). Where it relies on an Envoy behaviour, the comment names the
// Envoy source file that shows it.
package standin

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// MutationRules are the mutation_rules knobs the stand-in supports; the zero
// value is Envoy's default rules.
type MutationRules struct {
	AllowAllRouting bool
	AllowEnvoy      bool
	DisallowIsError bool
}

// Config is the slice of Envoy configuration the stand-in reproduces.
type Config struct {
	// ExtProcAddr is the gRPC target of the ext_proc server, e.g.
	// "127.0.0.1:50051" or "unix:/path".
	ExtProcAddr string
	// ExtProcAddrs are further endpoints of the same ext_proc cluster; with
	// any, new streams go round robin over the healthy endpoints.
	ExtProcAddrs []string
	// HealthCheck is the ext_proc cluster's active gRPC health check; nil
	// means none, and every endpoint counts as healthy.
	HealthCheck *HealthCheck
	// Mode is the filter's processing_mode; nil means request headers SEND,
	// request body BUFFERED, response headers SEND, response body BUFFERED.
	Mode              *extprocfilterv3.ProcessingMode
	AllowModeOverride bool
	// MessageTimeout is message_timeout; 0 means Envoy's default, 200ms.
	MessageTimeout   time.Duration
	FailureModeAllow bool
	// StatusOnError is status_on_error; 0 means 500.
	StatusOnError int
	MutationRules MutationRules
	// ClusterHeader is the route's cluster_header.
	ClusterHeader string
	// Clusters maps a cluster name to its endpoint base URL ("http://127.0.0.1:port").
	Clusters map[string]string
	// BufferLimitBytes is the request/response buffer limit; 0 means 1 MiB
	// (Envoy's default per_connection_buffer_limit_bytes).
	BufferLimitBytes int
	// RouteTimeout is the route's timeout; 0 means none (timeout: 0s).
	RouteTimeout time.Duration
	// ReceivingNamespaces is metadata_options.receiving_namespaces.untyped.
	ReceivingNamespaces []string
	// AccessLog receives the connection manager's access log, one JSON line
	// per request when the request ends; nil means no access log.
	AccessLog io.Writer
	// AccessLogFormat is the access log's log_format.json_format: key ->
	// format string. Required with AccessLog; an operator the stand-in does
	// not implement makes New fail with an *AccessLogFormatError.
	AccessLogFormat map[string]string
	// Clock gives the access log's start time and, read again at the end,
	// its duration; nil means time.Now.
	Clock func() time.Time

	// The fields below are optional connection-manager and route settings
	// of envoy/envoy.yaml; their zero values are Envoy's defaults.

	// UseRemoteAddress is the connection manager's use_remote_address: it
	// appends the connecting peer's IP to x-forwarded-for before the
	// ext_proc filter runs (for a loopback peer, LocalAddress instead), sets
	// x-forwarded-proto and x-envoy-external-address, and takes the client's
	// address from the connection (or, with XFFNumTrustedHops, from
	// x-forwarded-for).
	UseRemoteAddress bool
	// XFFNumTrustedHops is xff_num_trusted_hops: with N > 0 and
	// UseRemoteAddress, the client's address is the N-th x-forwarded-for
	// entry from the right as received, if it is an IP address.
	XFFNumTrustedHops int
	// LocalAddress is the IP Envoy appends to x-forwarded-for in place of a
	// loopback peer (its node address); empty means the first non-loopback
	// IPv4 address of this machine, which is how Envoy picks it.
	LocalAddress string
	// RequestAttributes is the ext_proc filter's request_attributes; the
	// stand-in knows "source.address" and "source.port".
	RequestAttributes []string
	// HTTP1Trailers is http_protocol_options.enable_trailers, on the listener
	// and on the upstream clusters alike. Envoy's HTTP/1 codec drops trailers
	// without it, so by default only HTTP/2 clients' request trailers reach
	// the ext_proc filter.
	HTTP1Trailers bool
	// KeepaliveInterval and KeepaliveTimeout are the ext_proc cluster's
	// http2_protocol_options.connection_keepalive; a zero interval sends no
	// PING. As in Envoy, an interval needs a timeout.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// InitialStreamWindowSize and InitialConnectionWindowSize are the ext_proc
	// cluster's HTTP/2 windows; 0 means Envoy's default, 256 MiB. They are
	// fixed, as Envoy's are: grpc-go would otherwise grow them with
	// bandwidth-probing PINGs that Envoy never sends.
	InitialStreamWindowSize     int32
	InitialConnectionWindowSize int32
	// NormalizePath and MergeSlashes rewrite :path before any filter runs.
	NormalizePath bool
	MergeSlashes  bool
	// RequestHeadersToRemove is the route's request_headers_to_remove,
	// applied by the router after the cluster is chosen.
	RequestHeadersToRemove []string
	// SuppressEnvoyHeaders is the router's suppress_envoy_headers; when
	// false, x-envoy-upstream-service-time is added to upstream responses.
	SuppressEnvoyHeaders bool
	// NewRequestID generates x-request-id when the client sent none, and for
	// every request when UseRemoteAddress is set (see requestHeaders); nil
	// means a random UUIDv4.
	NewRequestID func() string
	// Logf receives diagnostics (ext_proc errors Envoy would only log); nil
	// discards them.
	Logf func(format string, args ...any)
}

// Stats is a snapshot of counters named like Envoy's http.<prefix>.ext_proc.* stats.
type Stats struct {
	StreamsStarted                uint64
	StreamMsgsSent                uint64
	StreamMsgsReceived            uint64
	SpuriousMsgsReceived          uint64
	RejectedHeaderMutations       uint64
	ClearRouteCacheIgnored        uint64
	MessageTimeouts               uint64
	StreamsFailed                 uint64
	FailureModeAllowed            uint64
	OverrideMessageTimeoutIgnored uint64
	// The ext_proc cluster's HTTP/2 keepalive (Envoy's
	// cluster.<name>.http2.keepalive_timeout counts the timeouts).
	KeepalivePingsSent  uint64
	KeepalivePingsAcked uint64
	KeepaliveTimeouts   uint64
}

type counters struct {
	streamsStarted, streamMsgsSent, streamMsgsReceived, spurious, rejected,
	clearRouteCacheIgnored, messageTimeouts, streamsFailed, failureModeAllowed,
	overrideTimeoutIgnored, keepalivePingsSent, keepalivePingsAcked,
	keepaliveTimeouts atomic.Uint64
}

// maxKeptMetadata bounds the per-request metadata kept for DynamicMetadata.
const maxKeptMetadata = 4096

// Proxy is the stand-in listener: an http.Handler that runs Envoy's ext_proc
// filter and router for every request.
type Proxy struct {
	cfg      Config
	mode     *extprocfilterv3.ProcessingMode
	clusters map[string]*url.URL
	hosts    []*host
	rr       atomic.Uint64 // the round-robin position
	checkers sync.WaitGroup
	upstream *http.Client
	stats    counters
	// localAddr replaces a loopback peer in x-forwarded-for.
	localAddr netip.Addr

	// The keepalive pingers, one per ext_proc connection, stop when done
	// closes; closing refuses new ones.
	done    chan struct{}
	pingMu  sync.Mutex
	closing bool
	pingers sync.WaitGroup

	mu        sync.Mutex
	metadata  map[string]map[string]*structpb.Struct
	metaOrder []string

	accessLog *accessLog // nil: no access log
}

// New validates cfg and prepares the ext_proc channels; it connects lazily
// and starts no goroutine of its own until the first request, except one
// health checker per endpoint when cfg.HealthCheck is set.
func New(cfg Config) (*Proxy, error) {
	if cfg.ExtProcAddr == "" {
		return nil, errors.New("standin: ExtProcAddr is required")
	}
	if cfg.ClusterHeader == "" {
		return nil, errors.New("standin: ClusterHeader is required")
	}
	mode := &extprocfilterv3.ProcessingMode{
		RequestHeaderMode:  extprocfilterv3.ProcessingMode_SEND,
		RequestBodyMode:    extprocfilterv3.ProcessingMode_BUFFERED,
		ResponseHeaderMode: extprocfilterv3.ProcessingMode_SEND,
		ResponseBodyMode:   extprocfilterv3.ProcessingMode_BUFFERED,
	}
	if cfg.Mode != nil {
		mode = proto.Clone(cfg.Mode).(*extprocfilterv3.ProcessingMode)
	}
	for _, bm := range []extprocfilterv3.ProcessingMode_BodySendMode{mode.GetRequestBodyMode(), mode.GetResponseBodyMode()} {
		if !supportedBodyMode(bm) {
			return nil, fmt.Errorf("standin: body mode %s is unsupported", bm)
		}
	}
	if cfg.MessageTimeout == 0 {
		cfg.MessageTimeout = 200 * time.Millisecond
	}
	if cfg.StatusOnError == 0 {
		cfg.StatusOnError = http.StatusInternalServerError
	}
	if cfg.BufferLimitBytes == 0 {
		cfg.BufferLimitBytes = 1 << 20
	}
	if cfg.NewRequestID == nil {
		cfg.NewRequestID = newUUID
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	clusters := make(map[string]*url.URL, len(cfg.Clusters))
	for name, base := range cfg.Clusters {
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("standin: cluster %q: %w", name, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("standin: cluster %q: want http(s)://host:port, got %q", name, base)
		}
		clusters[name] = u
	}
	if err := checkAttributes(cfg.RequestAttributes); err != nil {
		return nil, err
	}
	if cfg.XFFNumTrustedHops < 0 {
		return nil, fmt.Errorf("standin: XFFNumTrustedHops %d is negative", cfg.XFFNumTrustedHops)
	}
	localAddr, err := nodeAddress(cfg.LocalAddress)
	if err != nil {
		return nil, err
	}
	for _, addr := range cfg.ExtProcAddrs {
		if addr == "" {
			return nil, errors.New("standin: an ExtProcAddrs entry is empty")
		}
	}
	if err := checkHealthCheck(cfg.HealthCheck); err != nil {
		return nil, err
	}
	alog, err := newAccessLog(cfg.AccessLogFormat, cfg.AccessLog)
	if err != nil {
		return nil, err
	}
	if cfg.KeepaliveInterval > 0 && cfg.KeepaliveTimeout <= 0 {
		return nil, errors.New("standin: KeepaliveInterval needs a KeepaliveTimeout")
	}
	if cfg.InitialStreamWindowSize == 0 {
		cfg.InitialStreamWindowSize = envoyDefaultWindow
	}
	if cfg.InitialConnectionWindowSize == 0 {
		cfg.InitialConnectionWindowSize = envoyDefaultWindow
	}
	p := &Proxy{
		cfg:       cfg,
		mode:      mode,
		clusters:  clusters,
		localAddr: localAddr,
		done:      make(chan struct{}),
		metadata:  make(map[string]map[string]*structpb.Struct),
		accessLog: alog,
	}
	for _, addr := range endpointsOf(cfg) {
		h, err := p.dialHost(addr)
		if err != nil {
			_ = p.closeHosts()
			return nil, err
		}
		p.hosts = append(p.hosts, h)
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression:  true, // Envoy never adds accept-encoding or decompresses.
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	p.upstream = &http.Client{
		Transport: transport,
		// The router passes redirects through to the client.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	p.startHealthChecks()
	return p, nil
}

// envoyDefaultWindow is Envoy's default HTTP/2 stream and connection window.
const envoyDefaultWindow = 256 << 20

func supportedBodyMode(m extprocfilterv3.ProcessingMode_BodySendMode) bool {
	switch m {
	case extprocfilterv3.ProcessingMode_NONE, extprocfilterv3.ProcessingMode_BUFFERED, extprocfilterv3.ProcessingMode_STREAMED:
		return true
	}
	return false
}

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	c := &p.stats
	return Stats{
		StreamsStarted:                c.streamsStarted.Load(),
		StreamMsgsSent:                c.streamMsgsSent.Load(),
		StreamMsgsReceived:            c.streamMsgsReceived.Load(),
		SpuriousMsgsReceived:          c.spurious.Load(),
		RejectedHeaderMutations:       c.rejected.Load(),
		ClearRouteCacheIgnored:        c.clearRouteCacheIgnored.Load(),
		MessageTimeouts:               c.messageTimeouts.Load(),
		StreamsFailed:                 c.streamsFailed.Load(),
		FailureModeAllowed:            c.failureModeAllowed.Load(),
		OverrideMessageTimeoutIgnored: c.overrideTimeoutIgnored.Load(),
		KeepalivePingsSent:            c.keepalivePingsSent.Load(),
		KeepalivePingsAcked:           c.keepalivePingsAcked.Load(),
		KeepaliveTimeouts:             c.keepaliveTimeouts.Load(),
	}
}

// DynamicMetadata returns a copy of the dynamic metadata Envoy would hold for
// the request whose x-request-id (as sent in request_headers) is requestID,
// by namespace; nil when none was received.
func (p *Proxy) DynamicMetadata(requestID string) map[string]*structpb.Struct {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.metadata[requestID]
	if !ok {
		return nil
	}
	out := make(map[string]*structpb.Struct, len(m))
	for ns, s := range m {
		out[ns] = proto.Clone(s).(*structpb.Struct)
	}
	return out
}

// mergeMetadata is StreamInfo::setDynamicMetadata: a new key replaces the old.
func (p *Proxy) mergeMetadata(requestID, ns string, s *structpb.Struct) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.metadata[requestID]
	if !ok {
		if len(p.metaOrder) >= maxKeptMetadata {
			delete(p.metadata, p.metaOrder[0])
			p.metaOrder = p.metaOrder[1:]
		}
		m = make(map[string]*structpb.Struct)
		p.metadata[requestID] = m
		p.metaOrder = append(p.metaOrder, requestID)
	}
	cur, ok := m[ns]
	if !ok {
		cur = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		m[ns] = cur
	}
	for k, v := range s.GetFields() {
		cur.Fields[k] = proto.Clone(v).(*structpb.Value)
	}
}

// Close releases the ext_proc channel and idle upstream connections, and
// waits for the keepalive pingers to stop.
func (p *Proxy) Close() error {
	p.pingMu.Lock()
	alreadyClosing := p.closing
	p.closing = true
	p.pingMu.Unlock()
	if !alreadyClosing {
		close(p.done)
	}
	p.upstream.CloseIdleConnections()
	err := p.closeHosts()
	p.pingers.Wait()
	return err
}

func (p *Proxy) logf(format string, args ...any) {
	if p.cfg.Logf != nil {
		p.cfg.Logf(format, args...)
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
