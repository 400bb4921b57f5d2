package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// FailureMode is what the sidecar does while its shared state (Redis) fails.
type FailureMode string

// Failure modes of --redis-failure-mode.
const (
	// FailOpen keeps serving on this replica's in-process windows and pins,
	// and refuses only requests that must reserve credit.
	FailOpen FailureMode = "open"
	// FailClosed refuses every request that needs shared state.
	FailClosed FailureMode = "closed"
)

// Settings are the process settings: read once at start, never reloaded.
type Settings struct {
	CatalogFile string
	GRPCAddr    string
	AdminAddr   string
	RedisAddr   string
	LogLevel    string
	CheckConfig string // non-empty: validate this catalog file and exit
	// DrainDelay is how long, after SIGTERM, health reports NOT_SERVING
	// while new streams are still accepted, before the listener closes.
	DrainDelay        time.Duration
	DrainTimeout      time.Duration // after the drain delay, how long open streams may run
	PollInterval      time.Duration // catalog file change check
	Pprof             bool          // serve /debug/pprof/ on the admin listener
	StreamIdleTimeout time.Duration // an ext_proc stream silent this long is closed
	RedisTimeout      time.Duration // limit for each shared-state call
	RedisFailureMode  FailureMode
	// RedisPassword authenticates to Redis; best given as the env var, so
	// that it is not on the command line.
	RedisPassword string
	RedisTLS      bool // connect to Redis over TLS, verifying it with the system's roots
	// ReservationTTL is how long a credit reservation lives without being
	// renewed; one left open by a replica that died is then debited in
	// full.
	ReservationTTL time.Duration
	// MaxStreams bounds the ext_proc streams served at once; a stream past
	// it is refused at once (Envoy answers 5xx) instead of queued.
	MaxStreams int
}

// StreamsPerCore sizes the default of --max-streams: a stream mostly waits
// on its upstream, so many share a core, while each may buffer a body of
// up to max_body_bytes, which the bound keeps from growing without limit.
const StreamsPerCore = 256

// DefaultMaxStreams is the default of --max-streams on this machine.
func DefaultMaxStreams() int { return StreamsPerCore * runtime.GOMAXPROCS(0) }

// boolSetting reads a boolean flag's or env var's text.
func boolSetting(name, v string) (bool, error) {
	switch v {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("--%s: %q is not true, false, 1 or 0", name, v)
}

// ParseSettings reads flags, each defaulting to the env var CPEN_<NAME>,
// then to the documented default.
func ParseSettings(args []string, getenv func(string) string, usage io.Writer) (Settings, error) {
	var s Settings
	fs := flag.NewFlagSet("cpen-extproc", flag.ContinueOnError)
	fs.SetOutput(usage)
	env := func(name, def string) string {
		if v := getenv("CPEN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&s.CatalogFile, "catalog", env("catalog", ""), "catalog YAML `file`; empty uses the embedded default catalog")
	fs.StringVar(&s.GRPCAddr, "grpc-addr", env("grpc-addr", "127.0.0.1:50051"), "ext_proc gRPC listener (host:port or unix:/path)")
	fs.StringVar(&s.AdminAddr, "admin-addr", env("admin-addr", "127.0.0.1:9901"), "HTTP admin listener: /healthz, /readyz, /metrics (and /debug/pprof/ with --pprof)")
	fs.StringVar(&s.RedisAddr, "redis-addr", env("redis-addr", ""), "Redis for shared state; empty keeps state in process")
	fs.StringVar(&s.RedisPassword, "redis-password", env("redis-password", ""), "Redis password (prefer the env var CPEN_REDIS_PASSWORD: a flag shows in the process list)")
	fs.StringVar(&s.LogLevel, "log-level", env("log-level", "info"), "debug, info, warn or error")
	fs.StringVar(&s.CheckConfig, "check-config", env("check-config", ""), "validate this catalog `file` and exit")
	// Values are kept as text and checked after parsing, so that a bad
	// env value is reported like a bad flag, and a flag overrides it.
	text := func(name, def, help string) *string {
		v := env(name, def)
		fs.Func(name, help+" (default "+v+")", func(arg string) error { v = arg; return nil })
		return &v
	}
	drainDelay := text("drain-delay", "5s", "on SIGTERM, how long health reports NOT_SERVING while new streams are still accepted")
	drain := text("drain-timeout", "15s", "after the drain delay, how long open streams may run before they are cut")
	poll := text("catalog-poll", "2s", "how often the catalog file is checked for changes")
	idle := text("stream-idle-timeout", "10m", "close an ext_proc stream that receives no message for this long")
	redisTimeout := text("redis-timeout", "50ms", "limit for each shared-state call; past it the call counts as a Redis failure")
	failureMode := text("redis-failure-mode", "open", "while Redis fails: open (serve on in-process state, refuse credit reservations) or closed (refuse requests that need shared state)")
	reservationTTL := text("reservation-ttl", "15m", "a credit reservation not settled or renewed for this long (its replica died) is debited in full")
	maxStreams := text("max-streams", strconv.Itoa(DefaultMaxStreams()), "ext_proc streams served at once, 256 per core unless set; past it a new stream is refused with RESOURCE_EXHAUSTED, which Envoy answers with a 5xx")
	pprof := env("pprof", "false")
	fs.Var(boolText{&pprof}, "pprof", "serve /debug/pprof/ on the admin listener")
	redisTLS := env("redis-tls", "false")
	fs.Var(boolText{&redisTLS}, "redis-tls", "connect to Redis over TLS")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if s.DrainDelay, err = duration("drain-delay", *drainDelay, true); err != nil {
		return s, err
	}
	if s.DrainTimeout, err = duration("drain-timeout", *drain, true); err != nil {
		return s, err
	}
	if s.PollInterval, err = duration("catalog-poll", *poll, false); err != nil {
		return s, err
	}
	if s.StreamIdleTimeout, err = duration("stream-idle-timeout", *idle, false); err != nil {
		return s, err
	}
	if s.RedisTimeout, err = duration("redis-timeout", *redisTimeout, false); err != nil {
		return s, err
	}
	if s.ReservationTTL, err = duration("reservation-ttl", *reservationTTL, false); err != nil {
		return s, err
	}
	if s.MaxStreams, err = positiveInt("max-streams", *maxStreams); err != nil {
		return s, err
	}
	switch m := FailureMode(*failureMode); m {
	case FailOpen, FailClosed:
		s.RedisFailureMode = m
	default:
		return s, fmt.Errorf("--redis-failure-mode: %q is not open or closed", *failureMode)
	}
	if s.Pprof, err = boolSetting("pprof", pprof); err != nil {
		return s, err
	}
	if s.RedisTLS, err = boolSetting("redis-tls", redisTLS); err != nil {
		return s, err
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return s, errors.New("--log-level must be debug, info, warn or error")
	}
	return s, nil
}

// duration parses the value of a duration flag; zero is allowed only where
// it means "no wait".
func duration(flagName, v string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err == nil && d > 0, err == nil && d == 0 && zeroOK:
		return d, nil
	case zeroOK:
		return 0, fmt.Errorf("--%s: %q is not a duration >= 0", flagName, v)
	default:
		return 0, fmt.Errorf("--%s: %q is not a duration > 0", flagName, v)
	}
}

// positiveInt parses the value of a count flag that must be > 0.
func positiveInt(flagName, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--%s: %q is not an integer > 0", flagName, v)
	}
	return n, nil
}

// boolText is a boolean flag kept as text, so that the env value and the
// flag are checked by the same rule after parsing. A bare --pprof means true.
type boolText struct{ v *string }

func (b boolText) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}

func (b boolText) Set(s string) error { *b.v = s; return nil }

// IsBoolFlag lets the flag stand alone, as --pprof.
func (b boolText) IsBoolFlag() bool { return true }
