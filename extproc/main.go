package extproc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/redis/go-redis/v9"

	"github.com/cpen/router/config"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/extproc/internal/tracing"
	"github.com/cpen/router/selector/state"
	"github.com/cpen/router/selector/state/redisstate"
)

// MaxBufferedResponseBytes is the largest answer Envoy buffers whole for
// the sidecar: the listener's buffer limit in the bootstrap, which caps
// buffered (non-stream) responses. A test in envoy/ holds the two together.
const MaxBufferedResponseBytes = 4 << 20

// grpcHeadroom is what one ext_proc message carries besides its body:
// framing, and the headers and attributes of a header message.
const grpcHeadroom = 256 << 10

// messageLimit bounds one received ext_proc message: the largest body the
// catalog lets in, or the largest buffered answer, plus headroom. gRPC
// refuses a larger message from its length prefix, before reading it.
func messageLimit(maxBody int64) int {
	return int(max(maxBody, MaxBufferedResponseBytes)) + grpcHeadroom
}

// KeepaliveMinTime is the shortest HTTP/2 ping interval the server
// accepts from a client. Envoy pings every connection_keepalive.interval of
// the ext_proc cluster (30 s in the bootstrap) whether or not the stream is
// busy; grpc-go's default policy (one ping per 5 minutes, none without a
// stream) answers such pings with GOAWAY too_many_pings and kills every
// stream on the connection. It is far below any interval an operator would
// give Envoy (a ping costs one small ack); a test in envoy/ holds it below
// the bootstrap's interval.
const KeepaliveMinTime = 10 * time.Millisecond

// streamWorkers is how many goroutines serve ext_proc streams before gRPC
// falls back to one goroutine per stream. A stream lives as long as its
// HTTP request, upstream time included, so the pool is larger than the core
// count.
const streamWorkers = 64

// Main runs the sidecar until ctx ends (SIGTERM), then drains in-flight
// streams. Each value on reload re-reads the catalog file (the command
// sends one per SIGHUP); Main installs no signal handler itself. It returns
// an error for bad flags, a bad catalog or a listener that cannot start.
func Main(ctx context.Context, args []string, stderr io.Writer, reload <-chan os.Signal) error {
	set, err := config.ParseSettings(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	if set.CheckConfig != "" {
		return checkConfig(set.CheckConfig, stderr)
	}
	log, err := newLogger(set.LogLevel, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := NewMetrics(reg)
	opts := []Option{WithStreamIdleTimeout(set.StreamIdleTimeout), WithReservationTTL(set.ReservationTTL)}
	// Tracing follows OpenTelemetry's standard variables: on with an OTLP
	// endpoint (or OTEL_TRACES_EXPORTER=otlp), off otherwise.
	tracer, err := tracing.FromEnv(ctx, os.Getenv, log)
	if err != nil {
		return err
	}
	if tracer != nil {
		log.Info("tracing on: one span per request, exported over OTLP gRPC")
		defer func() {
			flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancelFlush()
			if err := tracer.Shutdown(flushCtx); err != nil {
				log.Warn("trace export did not flush", zap.Error(err))
			}
		}()
		opts = append(opts, WithTracer(tracer))
	}
	// srv is set before any request can reach the shared state, whose
	// health changes it is told of.
	var srv *Server
	var store *redisstate.Store
	// Route ejections are shared too: written when this replica ejects a
	// route, and others' read once a second, off the request path.
	var share *redisstate.SharedHealth
	var latestHealth atomic.Pointer[state.Health]
	if set.RedisAddr != "" {
		var rdb *redis.Client
		rdb, store = sharedState(redisOptions(set), set, metrics, log, func(down bool) { srv.SetSharedStateDown(down) })
		defer func() { _ = rdb.Close() }()
		share = redisstate.NewSharedHealth(store, time.Now)
		opts = append(opts, WithLimiter(store.Limiter()), WithPins(store.Pins()), WithLedger(store.Ledger(), set.ReservationTTL),
			WithHealth(sharedHealth(share, &latestHealth)))
	}
	// The gRPC server below decodes with the transport's codec.
	opts = append(opts, func(o *options) { o.ownCodec = true })
	srv = NewServer(log, metrics, opts...)
	if store != nil {
		pingCtx, cancelPing := context.WithTimeout(ctx, 2*time.Second)
		if err := store.Ping(pingCtx); err == nil {
			log.Info("shared state in redis", zap.String("redis_addr", set.RedisAddr))
		}
		cancelPing()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shareDone := make(chan struct{})
	if share != nil {
		go func() {
			defer close(shareDone)
			share.Run(ctx, func() redisstate.HealthTarget {
				if h := latestHealth.Load(); h != nil {
					return h
				}
				return nil
			}, redisstate.DefaultHealthRefresh)
		}()
		// Stopped by cancel, before the Redis client closes.
		defer func() { cancel(); <-shareDone }()
	}
	var watcher *config.Watcher
	if set.CatalogFile != "" {
		if watcher, err = config.NewWatcher(set.CatalogFile, set.PollInterval, srv, log, config.WithReloadHook(metrics.catalogReload)); err != nil {
			return err
		}
	} else {
		cat, err := config.Default()
		if err != nil {
			return fmt.Errorf("embedded catalog: %w", err)
		}
		if err := srv.Apply(cat); err != nil {
			return fmt.Errorf("embedded catalog: %w", err)
		}
		log.Info("using the embedded default catalog")
	}

	lis, err := listen(set.GRPCAddr)
	if err != nil {
		return err
	}
	adminLis, err := net.Listen("tcp", set.AdminAddr)
	if err != nil {
		_ = lis.Close()
		return fmt.Errorf("--admin-addr: %w", err)
	}

	bufs := new(stream.BufferPool)
	codec, err := stream.NewCodec(bufs)
	if err != nil {
		_ = lis.Close()
		_ = adminLis.Close()
		return err
	}
	// The limit is fixed for the process; a reload that raises
	// max_body_bytes past it is logged by Apply.
	limit := messageLimit(config.DefaultMaxBodyBytes)
	if v := srv.versions.Load(); v != nil {
		limit = messageLimit(v.MaxBody)
	}
	srv.msgLimit.Store(int64(limit))
	bound := stream.NewBound(set.MaxStreams, log, metrics, nil)
	// After a burst the memory of its bodies goes back to the system once
	// no stream is left, rather than at the runtime's next forced
	// collection minutes later.
	idleDone := make(chan struct{})
	go func() { defer close(idleDone); returnMemoryWhenIdle(ctx, bound, idleCheck, freeOSMemory) }()
	defer func() { cancel(); <-idleDone }()
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(limit), grpc.MaxSendMsgSize(limit+grpcHeadroom),
		grpc.ForceServerCodecV2(codec), experimental.BufferPool(bufs),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime, PermitWithoutStream: true}),
		// Reused stream goroutines keep their grown stacks: a new goroutine
		// per request would grow its stack again every time.
		grpc.NumStreamWorkers(streamWorkers),
		// Past --max-streams a stream is refused at once, not queued.
		grpc.ChainStreamInterceptor(bound.StreamInterceptor()))
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	hs := newGRPCHealth(srv)
	healthpb.RegisterHealthServer(gs, hs)
	admin := &http.Server{Handler: adminHandler(srv, reg, set.Pprof), ReadHeaderTimeout: 5 * time.Second}

	// Both serve goroutines report on errc exactly once; Main returns only
	// after both have.
	errc := make(chan error, 2)
	pending := 2
	go func() { errc <- gs.Serve(lis) }()
	go func() {
		if err := admin.Serve(adminLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin server: %w", err)
			return
		}
		errc <- nil
	}()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if watcher != nil {
			watcher.Run(ctx, reload)
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				log.Info("reload ignored: running on the embedded catalog")
			}
		}
	}()
	log.Info("cpen-extproc listening", zap.String("grpc_addr", set.GRPCAddr), zap.String("admin_addr", set.AdminAddr))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		pending--
	}
	cancel()
	<-watchDone
	// Not ready at once, so that Envoy's health checks and Kubernetes stop
	// sending traffic; new streams are still served for the drain delay.
	srv.StartDraining()
	log.Info("draining: reporting NOT_SERVING", zap.String("drain_delay", set.DrainDelay.String()))
	if serveErr == nil && set.DrainDelay > 0 {
		delay := time.NewTimer(set.DrainDelay)
		select {
		case <-delay.C:
		case serveErr = <-errc:
			pending--
			delay.Stop()
		}
	}
	log.Info("draining in-flight streams", zap.String("timeout", set.DrainTimeout.String()))
	// Health watchers saw NOT_SERVING during the delay; their streams
	// would hold GracefulStop for good.
	hs.Shutdown()
	drained := make(chan struct{})
	go func() { gs.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(set.DrainTimeout):
		log.Warn("drain timeout reached; closing remaining streams")
		gs.Stop()
		<-drained
	}
	srv.Close()
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer shutCancel()
	_ = admin.Shutdown(shutCtx)
	for ; pending > 0; pending-- {
		if err := <-errc; serveErr == nil {
			serveErr = err
		}
	}
	log.Info("stopped")
	return serveErr
}

// redisOptions are the Redis client settings of the command line: the
// address, a password, and TLS verified against the system's roots.
func redisOptions(set config.Settings) *redis.Options {
	opt := &redis.Options{Addr: set.RedisAddr, Password: set.RedisPassword, ContextTimeoutEnabled: true}
	if set.RedisTLS {
		host, _, err := net.SplitHostPort(set.RedisAddr)
		if err != nil {
			host = set.RedisAddr
		}
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return opt
}

// sharedState connects the rate limits, continuity pins and credit ledger
// to Redis, so all replicas share them. Every call is bounded by
// --redis-timeout; a failing Redis opens a breaker (one probe a second)
// and the failure mode decides what is served meanwhile: open, this
// replica's own windows and pins (credit still refused); closed, a 503
// for every request that needs shared state. Each change is logged once,
// counted, and reported to down.
func sharedState(opt *redis.Options, set config.Settings, m *Metrics, log *zap.Logger, down func(bool)) (*redis.Client, *redisstate.Store) {
	addr := opt.Addr
	rdb := redis.NewClient(opt)
	if m != nil {
		rdb.AddHook(redisTiming{m})
	}
	closed := set.RedisFailureMode == config.FailClosed
	served := "this replica serves on its own RPM windows and pins, and refuses requests that must reserve credit"
	if closed {
		served = "requests that need shared state are refused with 503 state_unavailable"
	}
	m.redisUp(true)
	changed := func(up bool, err error) {
		m.redisUp(up)
		down(!up)
		if up {
			log.Info("redis answers again: limits, pins and credit are shared again", zap.String("redis_addr", addr))
			return
		}
		log.Error("redis unavailable: "+served+" until it answers (probed every second)", zap.String("redis_addr", addr),
			zap.String("failure_mode", string(set.RedisFailureMode)), zap.Error(err))
	}
	store := redisstate.New(rdb,
		redisstate.WithTimeout(set.RedisTimeout),
		redisstate.WithReservationTTL(set.ReservationTTL),
		redisstate.WithFailClosed(closed),
		redisstate.WithFallback(state.NewLimiter(), state.NewPins()),
		redisstate.WithBreaker(redisstate.DefaultProbeInterval, changed),
		redisstate.WithErrorHook(func(op string, err error) {
			m.redisError(op)
			log.Debug("redis call failed", zap.String("op", op), zap.Error(err))
		}))
	return rdb, store
}

func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		path = strings.TrimPrefix(path, "//")
		_ = os.Remove(path)
		lis, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("--grpc-addr: %w", err)
		}
		// Envoy runs as another user in the same group.
		_ = os.Chmod(path, 0o770)
		return lis, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--grpc-addr: %w", err)
	}
	return lis, nil
}

func checkConfig(path string, stderr io.Writer) error {
	c, err := config.LoadFile(path)
	if err != nil {
		return err
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stderr, "%s: ok (%d tiers, %d providers, %d routes, %d keys)\n", path, len(c.Tiers), len(c.Providers), len(c.Routes), len(c.Keys))
	return nil
}

func newLogger(level string, out io.Writer) (*zap.Logger, error) {
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(out)), lvl)
	// Sampling keeps a failing dependency from flooding the log: per message
	// and second, the first 10 lines, then every 100th.
	return zap.New(zapcore.NewSamplerWithOptions(core, time.Second, 10, 100)), nil
}
