package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// DefaultKey is the demo key of the default catalog (and of the bench
// catalog, where its rpm_limit is raised).
const DefaultKey = "cpen_live_demo_4f1c2b7e9a3d5c8b"

// UnlimitedKey is the bench catalog's key without credit (and with a huge
// rpm_limit): the request path without the credit check.
const UnlimitedKey = "cpen_live_bench_unlimited"

// ChatPath is the path every exchange carries.
const ChatPath = "/v1/chat/completions"

// envoyWindow is Envoy's default HTTP/2 initial stream and connection
// window (256 MiB), which its gRPC client uses toward the ext_proc server.
const envoyWindow = 256 << 20

// ErrImmediate is an ImmediateResponse answer: the server rejected the
// request (for the chat path in a load run, always a failure).
var ErrImmediate = errors.New("immediate_response")

// ErrUnexpectedAnswer is an answer of the wrong type.
var ErrUnexpectedAnswer = errors.New("answer of the wrong type")

// Messages are the four ProcessingRequests of one chat request, as Envoy
// sends them with request and response bodies BUFFERED, in wire format.
// They are built once and shared by all workers (only read); the request
// headers get a fresh x-request-id per exchange.
type Messages struct {
	reqHeaders headerTemplate
	reqBody    encoded
	respHdrs   encoded
	respBody   encoded
	// respChunks is the response body as Envoy sends it once the server
	// switched it to STREAMED: StreamChunk bytes a message, the last with
	// end_of_stream.
	respChunks []encoded
	ReqBytes   int
	RespBytes  int
}

// requestIDPrefix starts every x-request-id; 12 hex digits of a counter
// follow, giving Envoy's UUID shape and length.
const (
	requestIDPrefix = "00000000-0000-4000-8000-"
	requestIDLen    = len(requestIDPrefix) + 12
)

// StreamChunk is how much of a STREAMED response body one message carries.
// Envoy passes body data on as its upstream connection reads it: 16 KiB
// reads, repeated while the socket has data, so a read event hands over
// what a local upstream has written since the last, typically tens of KiB.
const StreamChunk = 64 << 10

// NewMessages builds the messages for one request body, response body and
// client key. Headers follow what the stand-in (like Envoy's HTTP/1 codec
// and connection manager) hands over for an OpenAI SDK request: lower-case
// keys, pseudo-headers first, values in raw_value; every message carries
// an empty metadata_context and the first one the protocol_config.
func NewMessages(key string, reqBody, respBody []byte) (*Messages, error) {
	hv := func(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, RawValue: []byte(v)} }
	first := &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
			Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				hv(":authority", "localhost:10000"),
				hv(":path", ChatPath),
				hv(":method", "POST"),
				hv(":scheme", "http"),
				hv("accept", "application/json"),
				hv("authorization", "Bearer "+key),
				hv("content-length", strconv.Itoa(len(reqBody))),
				hv("content-type", "application/json"),
				hv("user-agent", "OpenAI/Go 3.0.0"),
				hv("x-forwarded-proto", "http"),
				hv("x-request-id", requestIDPrefix+"XXXXXXXXXXXX"),
			}},
		}},
		MetadataContext: &corev3.Metadata{},
		ProtocolConfig: &extprocv3.ProtocolConfiguration{
			RequestBodyMode:  extprocfilterv3.ProcessingMode_BUFFERED,
			ResponseBodyMode: extprocfilterv3.ProcessingMode_BUFFERED,
		},
	}
	tmpl, err := newHeaderTemplate(first, requestIDPrefix+"XXXXXXXXXXXX")
	if err != nil {
		return nil, err
	}
	m := &Messages{reqHeaders: tmpl, ReqBytes: len(reqBody), RespBytes: len(respBody)}
	for _, x := range []struct {
		dst *encoded
		msg *extprocv3.ProcessingRequest
	}{
		{&m.reqBody, &extprocv3.ProcessingRequest{
			Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
				Body: reqBody, EndOfStream: true,
			}},
		}},
		{&m.respHdrs, &extprocv3.ProcessingRequest{
			Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{
				Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
					hv(":status", "200"),
					hv("content-length", strconv.Itoa(len(respBody))),
					hv("content-type", "application/json"),
					hv("date", "Tue, 14 Oct 2025 09:00:00 GMT"),
					hv("x-envoy-upstream-service-time", "212"),
				}},
			}},
		}},
		{&m.respBody, &extprocv3.ProcessingRequest{
			Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{
				Body: respBody, EndOfStream: true,
			}},
		}},
	} {
		x.msg.MetadataContext = &corev3.Metadata{}
		b, err := proto.Marshal(x.msg)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", x.msg.GetRequest(), err)
		}
		*x.dst = b
	}
	for at := 0; at < len(respBody) || at == 0; at += StreamChunk {
		end := min(at+StreamChunk, len(respBody))
		b, err := proto.Marshal(&extprocv3.ProcessingRequest{
			Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{
				Body: respBody[at:end], EndOfStream: end == len(respBody),
			}},
			MetadataContext: &corev3.Metadata{},
		})
		if err != nil {
			return nil, fmt.Errorf("marshal a response body chunk: %w", err)
		}
		m.respChunks = append(m.respChunks, b)
		if end == len(respBody) {
			break
		}
	}
	return m, nil
}

// Decode returns message i (0..3: request headers, request body, response
// headers, response body) as the server receives it, with x-request-id
// id (of the placeholder's length). For tests and debugging.
func (m *Messages) Decode(i int, id string) (*extprocv3.ProcessingRequest, error) {
	var b encoded
	switch i {
	case 0:
		if len(id) != requestIDLen {
			return nil, fmt.Errorf("request id %q: want %d bytes", id, requestIDLen)
		}
		b = m.reqHeaders.with([]byte(id))
	case 1:
		b = m.reqBody
	case 2:
		b = m.respHdrs
	case 3:
		b = m.respBody
	default:
		return nil, fmt.Errorf("no message %d", i)
	}
	var out extprocv3.ProcessingRequest
	if err := proto.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode message %d: %w", i, err)
	}
	return &out, nil
}

// Client plays Envoy's ext_proc client over several HTTP/2 connections
// (one grpc.ClientConn each); streams go round-robin over them.
type Client struct {
	fields  fields
	conns   []*grpc.ClientConn
	clients []extprocv3.ExternalProcessorClient
	next    atomic.Uint64 // round-robin cursor
	ids     atomic.Uint64 // x-request-id counter
}

// Dial prepares conns connections to target (host:port or unix:/path) and
// starts connecting them.
func Dial(target string, conns int) (*Client, error) {
	if conns < 1 {
		return nil, fmt.Errorf("conns must be at least 1, got %d", conns)
	}
	c := &Client{fields: newFields()}
	for range conns {
		cc, err := grpc.NewClient(target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(envoyWindow),
			grpc.WithInitialConnWindowSize(envoyWindow),
			// Envoy's gRPC client has no message size limit.
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32),
				grpc.ForceCodecV2(codec{f: c.fields})),
		)
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("ext_proc client for %s: %w", target, err)
		}
		cc.Connect()
		c.conns = append(c.conns, cc)
		c.clients = append(c.clients, extprocv3.NewExternalProcessorClient(cc))
	}
	return c, nil
}

// Close closes every connection.
func (c *Client) Close() error {
	var errs []error
	for _, cc := range c.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close ext_proc client: %w", err)
	}
	return nil
}

// requestID is UUID-shaped, as Envoy's, and unique within the client.
func (c *Client) requestID() []byte {
	const digits = "0123456789abcdef"
	id := make([]byte, requestIDLen)
	copy(id, requestIDPrefix)
	n := c.ids.Add(1)
	for i := requestIDLen - 1; i >= len(requestIDPrefix); i-- {
		id[i] = digits[n&15]
		n >>= 4
	}
	return id
}

// Exchange runs one request through a new stream: request headers,
// request body, response headers, response body, each sent after the
// previous answer arrived. It returns the time from opening the stream to
// the last answer, then resets the stream as Envoy does.
func (c *Client) Exchange(ctx context.Context, m *Messages) (time.Duration, error) {
	client := c.clients[(c.next.Add(1)-1)%uint64(len(c.clients))]
	msgs := [4]encoded{m.reqHeaders.with(c.requestID()), m.reqBody, m.respHdrs, m.respBody}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // Envoy resets the stream after the last answer.
	start := time.Now()
	stream, err := client.Process(sctx)
	if err != nil {
		return 0, fmt.Errorf("open stream: %w", err)
	}
	var a answer
	send := func(i int, msg encoded) error {
		if err := stream.SendMsg(msg); err != nil {
			if errors.Is(err, io.EOF) {
				// The server ended the stream; RecvMsg tells how.
				err = stream.RecvMsg(&a)
			}
			return fmt.Errorf("send %s: %w", phaseName(i), err)
		}
		a.wantMode = i == 2
		if err := stream.RecvMsg(&a); err != nil {
			return fmt.Errorf("answer to %s: %w", phaseName(i), err)
		}
		return c.check(i, &a)
	}
	streamed := false
	for i, msg := range msgs[:3] {
		if err := send(i, msg); err != nil {
			return 0, err
		}
		streamed = a.streamed
	}
	if !streamed {
		if err := send(3, msgs[3]); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	// Switched to STREAMED by the headers answer: the body goes in
	// chunks, each answered before the next is sent.
	for _, chunk := range m.respChunks {
		if err := send(3, chunk); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func phaseName(i int) string {
	switch i {
	case 0:
		return "request_headers"
	case 1:
		return "request_body"
	case 2:
		return "response_headers"
	}
	return "response_body"
}

func (c *Client) check(i int, a *answer) error {
	if a.immediate != nil {
		ir := a.immediate
		return fmt.Errorf("%w to %s: status %d: %.200s", ErrImmediate, phaseName(i), ir.GetStatus().GetCode(), ir.GetBody())
	}
	if a.field != c.fields.want[i] {
		return fmt.Errorf("%w: %s to %s", ErrUnexpectedAnswer, c.fields.name(a.field), phaseName(i))
	}
	return nil
}

// Config is one load run against an ext_proc server.
type Config struct {
	Target      string // host:port or unix:/path
	Conns       int    // HTTP/2 connections
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	Requests    int64 // measure this many exchanges instead of a Duration
	PID         int   // the server's pid for /proc stats; 0: none
	Key         string
	ReqBody     []byte
	RespBody    []byte
}

// Run connects, drives the load and closes the connections.
func Run(ctx context.Context, cfg Config) (Result, error) {
	s, err := Open(cfg)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = s.Close() }()
	return s.drive(ctx, cfg.Warmup, cfg.Duration, cfg.Requests)
}

// Session is a client connected to one server with its messages built,
// for several runs one after the other: the slices of an A/B leg, taken
// in turns with the other side's over connections that stay open.
type Session struct {
	cfg    Config
	client *Client
	msgs   *Messages
}

// Open connects to cfg.Target and builds the messages of cfg's bodies;
// cfg's warmup and run length are left to each Run.
func Open(cfg Config) (*Session, error) {
	m, err := NewMessages(cfg.Key, cfg.ReqBody, cfg.RespBody)
	if err != nil {
		return nil, err
	}
	c, err := Dial(cfg.Target, cfg.Conns)
	if err != nil {
		return nil, err
	}
	return &Session{cfg: cfg, client: c, msgs: m}, nil
}

// Run drives the load for warmup, then measures it for duration.
func (s *Session) Run(ctx context.Context, warmup, duration time.Duration) (Result, error) {
	return s.drive(ctx, warmup, duration, 0)
}

func (s *Session) drive(ctx context.Context, warmup, duration time.Duration, requests int64) (Result, error) {
	return Drive(ctx, DriveConfig{
		Concurrency: s.cfg.Concurrency, Warmup: warmup, Duration: duration, Requests: requests, PID: s.cfg.PID,
	}, func(ctx context.Context, _ int) (time.Duration, error) { return s.client.Exchange(ctx, s.msgs) })
}

// Close closes the session's connections.
func (s *Session) Close() error { return s.client.Close() }
