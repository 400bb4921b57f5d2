// Command envoy-standin runs test/standin, the Go stand-in for Envoy (it is
// not Envoy), configured like envoy/envoy.yaml, for local trials without an
// Envoy binary:
//
//	go run ./test/cmd/envoy-standin --cluster mock_provider=http://127.0.0.1:18080
//
// The configuration is standin.ProjectConfig: ext_proc with request headers
// SEND, request body BUFFERED, response headers SEND, response body BUFFERED,
// allow_mode_override true, failure_mode_allow false; the route "prefix /"
// with cluster_header x-cpen-upstream-cluster, auto_host_rewrite, timeout 0s;
// the connection-manager and router settings of envoy/envoy.yaml; and the
// ext_proc cluster's HTTP/2 keepalive PINGs. Like codec_type AUTO, the
// listener takes HTTP/1.1 and HTTP/2 without TLS.
//
// With --access-log PATH ("-" for stdout) it writes envoy.yaml's access log,
// one JSON line per request with the sidecar's dynamic metadata, appending
// to PATH.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cpen/router/test/standin"
)

const (
	readHeaderTimeout = 10 * time.Second
	shutdownTimeout   = 5 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envoy-standin:", err)
		os.Exit(1)
	}
}

// clusterFlags collects repeated --cluster name=url values.
type clusterFlags map[string]string

func (c clusterFlags) String() string {
	parts := make([]string, 0, len(c))
	for k, v := range c {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (c clusterFlags) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok || name == "" || url == "" {
		return fmt.Errorf("want name=http://host:port, got %q", v)
	}
	c[name] = url
	return nil
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("envoy-standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:10000", "listener address (host:port)")
	extproc := fs.String("extproc", "127.0.0.1:50051", "ext_proc gRPC target (host:port or unix:/path)")
	clusters := clusterFlags{}
	fs.Var(clusters, "cluster", "upstream cluster as name=http://host:port (repeatable)")
	msgTimeout := fs.Duration("message-timeout", 10*time.Second, "ext_proc message_timeout")
	// envoy/envoy.yaml: per_connection_buffer_limit_bytes.
	bufferLimit := fs.Int("buffer-limit", 4<<20, "request/response buffer limit in bytes")
	accessLog := fs.String("access-log", "", `access log file, appended to ("-": stdout; empty: no access log)`)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}

	cfg := standin.ProjectConfig(*extproc, clusters)
	cfg.MessageTimeout = *msgTimeout
	cfg.BufferLimitBytes = *bufferLimit
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	// With the access log on stdout the banner goes to stderr, so stdout
	// holds JSON lines only.
	banner := stdout
	switch *accessLog {
	case "":
	case "-":
		cfg.AccessLog = stdout
		banner = stderr
	default:
		f, err := os.OpenFile(*accessLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("access log: %w", err)
		}
		// Every line was written with its own Write; a close error loses nothing.
		defer func() { _ = f.Close() }()
		cfg.AccessLog = f
	}
	proxy, err := standin.New(cfg)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	defer func() { _ = proxy.Close() }() // nothing useful to do with a close error at exit

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	protocols := &http.Protocols{}
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: readHeaderTimeout, Protocols: protocols}
	fmt.Fprintf(banner, "envoy-standin: Go stand-in for Envoy (not Envoy) listening on http://%s, ext_proc %s\n", ln.Addr(), *extproc)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
