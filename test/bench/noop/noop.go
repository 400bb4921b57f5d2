// Package noop is the floor of the ext_proc benchmarks: an ext_proc server
// that answers every message with an empty CONTINUE of the matching type,
// over a gRPC server with cpen-extproc's message size limits and gRPC's
// defaults otherwise: a goroutine per stream, gRPC's codec and buffer
// pool, the runtime's default GOGC. It stands for the least a plain Go
// ext_proc server costs; the sidecar's own transport choices (reused
// stream workers, generated encoders, its buffer classes, GOGC=200) are
// part of what it is measured on.
package noop

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxMessage is cpen-extproc's gRPC message limit (64 MiB of body plus
// 1 MiB of headers), used for both directions.
const MaxMessage = 64<<20 + 1<<20

// Server answers CONTINUE to everything. Its answers are built once and
// shared; gRPC only reads them.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	reqHeaders, reqBody, reqTrailers    *extprocv3.ProcessingResponse
	respHeaders, respBody, respTrailers *extprocv3.ProcessingResponse
}

var _ extprocv3.ExternalProcessorServer = (*Server)(nil)

// NewServer returns a no-op ext_proc server.
func NewServer() *Server {
	return &Server{
		reqHeaders: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocv3.HeadersResponse{}}},
		reqBody: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
			RequestBody: &extprocv3.BodyResponse{}}},
		reqTrailers: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocv3.TrailersResponse{}}},
		respHeaders: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
			ResponseHeaders: &extprocv3.HeadersResponse{}}},
		respBody: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocv3.BodyResponse{}}},
		respTrailers: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}},
	}
}

// Process answers each message until the client ends the stream.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			return status.Errorf(codes.Unknown, "receive: %v", err)
		}
		var resp *extprocv3.ProcessingResponse
		switch req.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			resp = s.reqHeaders
		case *extprocv3.ProcessingRequest_RequestBody:
			resp = s.reqBody
		case *extprocv3.ProcessingRequest_RequestTrailers:
			resp = s.reqTrailers
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			resp = s.respHeaders
		case *extprocv3.ProcessingRequest_ResponseBody:
			resp = s.respBody
		case *extprocv3.ProcessingRequest_ResponseTrailers:
			resp = s.respTrailers
		default:
			return status.Errorf(codes.InvalidArgument, "unsupported message %T", req.GetRequest())
		}
		if err := stream.Send(resp); err != nil {
			if stream.Context().Err() != nil {
				return nil
			}
			return err
		}
	}
}

// NewGRPCServer returns a gRPC server with cpen-extproc's message size
// limits and the no-op ext_proc service registered.
func NewGRPCServer() *grpc.Server {
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessage), grpc.MaxSendMsgSize(MaxMessage))
	extprocv3.RegisterExternalProcessorServer(gs, NewServer())
	return gs
}

// Listen opens host:port, or unix:/path (an old socket file is removed).
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		path = strings.TrimPrefix(path, "//")
		_ = os.Remove(path)
		lis, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return lis, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return lis, nil
}

// Main is the noop-extproc command: it serves until ctx ends, then stops
// gracefully.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("noop-extproc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("grpc-addr", "127.0.0.1:50052", "ext_proc gRPC listener (host:port or unix:/path)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	lis, err := Listen(*addr)
	if err != nil {
		return err
	}
	gs := NewGRPCServer()
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	select {
	case <-ctx.Done():
		gs.GracefulStop()
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
}
