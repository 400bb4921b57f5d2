package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Settings are the process settings: read once at start, never reloaded.
type Settings struct {
	CatalogFile  string
	GRPCAddr     string
	AdminAddr    string
	RedisAddr    string
	LogLevel     string
	CheckConfig  string        // non-empty: validate this catalog file and exit
	DrainTimeout time.Duration // how long SIGTERM waits for in-flight streams
	PollInterval time.Duration // catalog file change check
}

// ErrHelp is returned when the user asked for usage.
var ErrHelp = flag.ErrHelp

// ParseSettings reads flags, each defaulting to the env var CPEN_<NAME>
// (catalog.md), then to the documented default.
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
	fs.StringVar(&s.AdminAddr, "admin-addr", env("admin-addr", "127.0.0.1:9901"), "HTTP admin listener: /healthz, /readyz, /metrics")
	fs.StringVar(&s.RedisAddr, "redis-addr", env("redis-addr", ""), "Redis for shared state; empty keeps state in process")
	fs.StringVar(&s.LogLevel, "log-level", env("log-level", "info"), "debug, info, warn or error")
	fs.StringVar(&s.CheckConfig, "check-config", env("check-config", ""), "validate this catalog `file` and exit")
	drain := env("drain-timeout", "15s")
	poll := env("catalog-poll", "2s")
	fs.Func("drain-timeout", "how long SIGTERM waits for in-flight streams (default "+drain+")", func(v string) error { drain = v; return nil })
	fs.Func("catalog-poll", "how often the catalog file is checked for changes (default "+poll+")", func(v string) error { poll = v; return nil })
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if s.DrainTimeout, err = time.ParseDuration(drain); err != nil || s.DrainTimeout < 0 {
		return s, fmt.Errorf("--drain-timeout: %q is not a duration >= 0", drain)
	}
	if s.PollInterval, err = time.ParseDuration(poll); err != nil || s.PollInterval <= 0 {
		return s, fmt.Errorf("--catalog-poll: %q is not a duration > 0", poll)
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return s, errors.New("--log-level must be debug, info, warn or error")
	}
	return s, nil
}
