package config

import (
	"bytes"
	"errors"
	"flag"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseSettingsDefaults(t *testing.T) {
	s, err := ParseSettings(nil, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("ParseSettings: %v", err)
	}
	want := Settings{
		GRPCAddr:          "127.0.0.1:50051",
		AdminAddr:         "127.0.0.1:9901",
		LogLevel:          "info",
		DrainDelay:        5 * time.Second,
		DrainTimeout:      15 * time.Second,
		PollInterval:      2 * time.Second,
		StreamIdleTimeout: 10 * time.Minute,
		RedisTimeout:      50 * time.Millisecond,
		RedisFailureMode:  FailOpen,
		ReservationTTL:    15 * time.Minute,
		MaxStreams:        256 * runtime.GOMAXPROCS(0),
	}
	if s != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", s, want)
	}
}

// newSettings are the settings added for draining, profiling, idle streams
// and Redis failures, compared as a whole in each row.
type newSettings struct {
	DrainDelay        time.Duration
	Pprof             bool
	StreamIdleTimeout time.Duration
	RedisTimeout      time.Duration
	RedisFailureMode  FailureMode
}

func TestParseSettingsValues(t *testing.T) {
	const (
		s5  = 5 * time.Second
		m10 = 10 * time.Minute
		ms  = time.Millisecond
	)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want newSettings
	}{
		{"defaults", nil, nil, newSettings{s5, false, m10, 50 * ms, FailOpen}},
		{"drain delay flag", []string{"--drain-delay", "250ms"}, nil, newSettings{250 * ms, false, m10, 50 * ms, FailOpen}},
		{"drain delay zero", []string{"--drain-delay=0s"}, nil, newSettings{0, false, m10, 50 * ms, FailOpen}},
		{"drain delay env", nil, map[string]string{"CPEN_DRAIN_DELAY": "7s"}, newSettings{7 * time.Second, false, m10, 50 * ms, FailOpen}},
		{"flag beats env", []string{"--drain-delay", "1s"}, map[string]string{"CPEN_DRAIN_DELAY": "7s"}, newSettings{time.Second, false, m10, 50 * ms, FailOpen}},
		{"a flag overrides a bad env value", []string{"--redis-timeout", "20ms"}, map[string]string{"CPEN_REDIS_TIMEOUT": "soon"}, newSettings{s5, false, m10, 20 * ms, FailOpen}},
		{"bare pprof", []string{"--pprof"}, nil, newSettings{s5, true, m10, 50 * ms, FailOpen}},
		{"pprof=false beats env", []string{"--pprof=false"}, map[string]string{"CPEN_PPROF": "1"}, newSettings{s5, false, m10, 50 * ms, FailOpen}},
		{"pprof env true", nil, map[string]string{"CPEN_PPROF": "true"}, newSettings{s5, true, m10, 50 * ms, FailOpen}},
		{"pprof env 1", nil, map[string]string{"CPEN_PPROF": "1"}, newSettings{s5, true, m10, 50 * ms, FailOpen}},
		{"pprof env 0", nil, map[string]string{"CPEN_PPROF": "0"}, newSettings{s5, false, m10, 50 * ms, FailOpen}},
		{"pprof env false", nil, map[string]string{"CPEN_PPROF": "false"}, newSettings{s5, false, m10, 50 * ms, FailOpen}},
		{"stream idle timeout", []string{"--stream-idle-timeout", "90s"}, nil, newSettings{s5, false, 90 * time.Second, 50 * ms, FailOpen}},
		{"stream idle timeout env", nil, map[string]string{"CPEN_STREAM_IDLE_TIMEOUT": "1h"}, newSettings{s5, false, time.Hour, 50 * ms, FailOpen}},
		{"redis timeout env", nil, map[string]string{"CPEN_REDIS_TIMEOUT": "5ms"}, newSettings{s5, false, m10, 5 * ms, FailOpen}},
		{"redis failure mode closed", []string{"--redis-failure-mode", "closed"}, nil, newSettings{s5, false, m10, 50 * ms, FailClosed}},
		{"redis failure mode env", nil, map[string]string{"CPEN_REDIS_FAILURE_MODE": "closed"}, newSettings{s5, false, m10, 50 * ms, FailClosed}},
		{"redis failure mode flag beats env", []string{"--redis-failure-mode=open"}, map[string]string{"CPEN_REDIS_FAILURE_MODE": "closed"}, newSettings{s5, false, m10, 50 * ms, FailOpen}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSettings(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatalf("ParseSettings: %v", err)
			}
			got := newSettings{s.DrainDelay, s.Pprof, s.StreamIdleTimeout, s.RedisTimeout, s.RedisFailureMode}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseSettingsRefusesBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"negative drain delay", []string{"--drain-delay", "-1s"}, nil, `--drain-delay: "-1s" is not a duration >= 0`},
		{"drain delay not a duration", []string{"--drain-delay", "soon"}, nil, `--drain-delay: "soon" is not a duration >= 0`},
		{"bad drain delay env", nil, map[string]string{"CPEN_DRAIN_DELAY": "5"}, `--drain-delay: "5" is not a duration >= 0`},
		{"drain timeout", []string{"--drain-timeout", "soon"}, nil, `--drain-timeout: "soon" is not a duration >= 0`},
		{"zero poll", []string{"--catalog-poll", "0s"}, nil, `--catalog-poll: "0s" is not a duration > 0`},
		{"zero stream idle timeout", []string{"--stream-idle-timeout", "0"}, nil, `--stream-idle-timeout: "0" is not a duration > 0`},
		{"negative stream idle timeout", []string{"--stream-idle-timeout", "-5m"}, nil, `--stream-idle-timeout: "-5m" is not a duration > 0`},
		{"zero redis timeout", []string{"--redis-timeout", "0ms"}, nil, `--redis-timeout: "0ms" is not a duration > 0`},
		{"redis timeout env", nil, map[string]string{"CPEN_REDIS_TIMEOUT": "fast"}, `--redis-timeout: "fast" is not a duration > 0`},
		{"redis failure mode", []string{"--redis-failure-mode", "half"}, nil, `--redis-failure-mode: "half" is not open or closed`},
		{"redis failure mode is case-sensitive", []string{"--redis-failure-mode", "Open"}, nil, `--redis-failure-mode: "Open" is not open or closed`},
		{"redis failure mode env", nil, map[string]string{"CPEN_REDIS_FAILURE_MODE": "closd"}, `--redis-failure-mode: "closd" is not open or closed`},
		{"zero reservation ttl", []string{"--reservation-ttl", "0s"}, nil, `--reservation-ttl: "0s" is not a duration > 0`},
		{"reservation ttl env", nil, map[string]string{"CPEN_RESERVATION_TTL": "long"}, `--reservation-ttl: "long" is not a duration > 0`},
		{"zero max streams", []string{"--max-streams", "0"}, nil, `--max-streams: "0" is not an integer > 0`},
		{"negative max streams", []string{"--max-streams=-4"}, nil, `--max-streams: "-4" is not an integer > 0`},
		{"max streams not a number", []string{"--max-streams", "many"}, nil, `--max-streams: "many" is not an integer > 0`},
		{"max streams env", nil, map[string]string{"CPEN_MAX_STREAMS": "1e3"}, `--max-streams: "1e3" is not an integer > 0`},
		{"pprof env yes", nil, map[string]string{"CPEN_PPROF": "yes"}, `--pprof: "yes" is not true, false, 1 or 0`},
		{"pprof flag t", []string{"--pprof=t"}, nil, `--pprof: "t" is not true, false, 1 or 0`},
		{"log level", []string{"--log-level", "loud"}, nil, "--log-level must be debug, info, warn or error"},
		{"argument", []string{"extra"}, nil, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSettings(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseSettingsMaxStreams(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default", nil, nil, 256 * runtime.GOMAXPROCS(0)},
		{"flag", []string{"--max-streams", "4"}, nil, 4},
		{"env", nil, map[string]string{"CPEN_MAX_STREAMS": "1000"}, 1000},
		{"flag beats env", []string{"--max-streams=1"}, map[string]string{"CPEN_MAX_STREAMS": "1000"}, 1},
		{"a flag overrides a bad env value", []string{"--max-streams", "9"}, map[string]string{"CPEN_MAX_STREAMS": "0"}, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSettings(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatalf("ParseSettings: %v", err)
			}
			if s.MaxStreams != tc.want {
				t.Errorf("MaxStreams %d, want %d", s.MaxStreams, tc.want)
			}
		})
	}
}

func TestParseSettingsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseSettings([]string{"--help"}, envOf(map[string]string{"CPEN_DRAIN_DELAY": "3s"}), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"-drain-delay value\n    \ton SIGTERM, how long health reports NOT_SERVING while new streams are still accepted (default 3s)\n",
		"-drain-timeout value\n    \tafter the drain delay, how long open streams may run before they are cut (default 15s)\n",
		"-pprof\n    \tserve /debug/pprof/ on the admin listener (default false)\n",
		"-stream-idle-timeout value\n    \tclose an ext_proc stream that receives no message for this long (default 10m)\n",
		"-redis-timeout value\n    \tlimit for each shared-state call; past it the call counts as a Redis failure (default 50ms)\n",
		"-max-streams value\n    \text_proc streams served at once, 256 per core unless set; past it a new stream is refused with RESOURCE_EXHAUSTED, which Envoy answers with a 5xx (default " + strconv.Itoa(DefaultMaxStreams()) + ")\n",
		"-redis-failure-mode value\n    \twhile Redis fails: open (serve on in-process state, refuse credit reservations) or closed (refuse requests that need shared state) (default open)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}
