// Command mock-provider serves test/mockprovider over HTTP, as the plaintext upstream behind
// Envoy's mock_provider cluster (envoy/envoy.yaml) for local trials:
//
//	go run ./test/cmd/mock-provider --listen 127.0.0.1:18080 --name demo
//
// It logs one JSON line per request to stderr: method, path, model and status. Header values are
// never logged, because they carry provider keys.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cpen/router/test/mockprovider"
)

const (
	readHeaderTimeout = 10 * time.Second
	shutdownTimeout   = 5 * time.Second
	// maxLoggedModel keeps a hostile or broken request from writing huge log lines.
	maxLoggedModel = 128
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mock-provider:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts the server down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mock-provider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:18080", "address to serve on (host:port)")
	name := fs.String("name", "mock", "provider name used in generated ids and system_fingerprint")
	delay := fs.Duration("delay", 0, "how long every answer waits before it starts, like a slow provider")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}

	logger := zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(stderr)),
		zap.InfoLevel,
	))
	defer func() { _ = logger.Sync() }() // stderr may not support fsync; nothing to do about it

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	provider := mockprovider.New(*name)
	provider.SetDelay(*delay)
	srv := &http.Server{
		Handler:           logRequests(logger, provider),
		ReadHeaderTimeout: readHeaderTimeout,
	}
	logger.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("name", *name), zap.Duration("delay", *delay))

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
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

// logRequests logs each request after it is served. It peeks at the body for the model name and
// hands the provider the complete, unchanged body.
func logRequests(logger *zap.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		peek, err := io.ReadAll(io.LimitReader(r.Body, mockprovider.MaxBodyBytes))
		if err != nil {
			logger.Warn("read body", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(peek), r.Body), r.Body}

		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Info("request",
			zap.String("method", r.Method),
			zap.String("path", r.URL.Path),
			zap.String("model", modelOf(peek)),
			zap.Int("status", sw.status),
			zap.Duration("duration", time.Since(start)),
		)
	})
}

// modelOf returns the JSON body's "model", or "" when there is none.
func modelOf(body []byte) string {
	var req struct {
		Model string `json:"model"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	if len(req.Model) > maxLoggedModel {
		return req.Model[:maxLoggedModel] + "…"
	}
	return req.Model
}

// statusWriter records the status code. Unwrap lets http.ResponseController reach the real
// writer, so the provider's per-event SSE flushes still work.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status = code
		s.wroteHeader = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
