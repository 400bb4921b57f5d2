// Command mock-provider serves test/mockprovider over HTTP, as the plaintext upstream behind
// Envoy's mock_provider cluster (envoy/envoy.yaml) for local trials:
//
//	go run ./test/cmd/mock-provider --listen 127.0.0.1:18080 --name demo
//
// To try failover, break or slow down one route by its upstream model (repeatable):
//
//	--fail-model gpt-4o-mini --slow-model gemini-2.0-flash=3s
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

// options are the command's flags.
type options struct {
	listen  string
	name    string
	delay   time.Duration
	failing modelList
	slow    slowModels
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{slow: slowModels{}}
	fs := flag.NewFlagSet("mock-provider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:18080", "address to serve on (host:port)")
	fs.StringVar(&o.name, "name", "mock", "provider name used in generated ids and system_fingerprint")
	fs.DurationVar(&o.delay, "delay", 0, "how long every answer waits before it starts, like a slow provider")
	fs.Var(&o.failing, "fail-model", "answer requests for this upstream model with a 500 (repeatable)")
	fs.Var(o.slow, "slow-model", "MODEL=DURATION: answers for this upstream model wait DURATION instead of --delay (repeatable)")
	if err := fs.Parse(args); err != nil {
		return options{}, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("parse flags: unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

// provider builds the mock the flags describe.
func (o options) provider() *mockprovider.Provider {
	p := mockprovider.New(o.name)
	p.SetDelay(o.delay)
	for _, m := range o.failing {
		p.FailModel(m, true)
	}
	for m, d := range o.slow {
		p.SlowModel(m, d)
	}
	return p
}

// run serves until ctx ends, then shuts the server down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}

	logger := zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(stderr)),
		zap.InfoLevel,
	))
	defer func() { _ = logger.Sync() }() // stderr may not support fsync; nothing to do about it

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	provider := o.provider()
	srv := &http.Server{
		Handler:           logRequests(logger, provider),
		ReadHeaderTimeout: readHeaderTimeout,
	}
	logger.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("name", o.name), zap.Duration("delay", o.delay),
		zap.Strings("fail_models", o.failing), zap.Stringer("slow_models", o.slow))

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
