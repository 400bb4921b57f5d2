// Package local is the endpoints the sidecar answers itself, at the
// request headers: the route status, billing, health and the playground
// page, and the 404 of a path no endpoint serves.
package local

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/catalog"
	"github.com/cpen/router/extproc/internal/stream"
	"github.com/cpen/router/selector/state"
)

// Config is what the local answers read: the catalog version in force and
// the clock.
type Config struct {
	Versions catalog.Source
	Now      func() time.Time
	Ledger   Ledger
}

// Ledger reads an account's credit ledger, as every replica sees it.
type Ledger interface {
	Balance(ctx context.Context, account string, now time.Time) (state.Balance, error)
}

// answer answers a request at its headers.
type answer func(l *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error)

// local serves an endpoint the sidecar answers itself, at the request
// headers; any later phase passes unchanged.
type local struct {
	stream.PassThrough
	x   *stream.Exchange
	cfg *Config
	// v is the catalog version in force at the request headers; nil
	// before the first.
	v      *catalog.Version
	answer answer
}

var _ stream.Processor = (*local)(nil)

// factory makes the processors of an endpoint answered locally.
func factory(cfg *Config, a answer) stream.Factory {
	return func(x *stream.Exchange) stream.Processor {
		return &local{PassThrough: stream.NewPassThrough(x), x: x, cfg: cfg, v: cfg.Versions.Load(), answer: a}
	}
}

// RequestHeaders answers the request.
func (l *local) RequestHeaders(h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return l.answer(l, h)
}

// NotFound makes the processors of a path no endpoint serves: 404.
func NotFound(cfg *Config) stream.Factory { return factory(cfg, notFound) }

func notFound(*local, *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	return nil, stream.ErrNotFound
}

// jsonAnswer answers 200 with v as JSON. These are cold paths: clarity
// over the hand-built bodies of the request path.
func jsonAnswer(v any, kind string) (*extprocv3.ProcessingResponse, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return stream.Immediate(200, b, kind, nil), nil
}

func onlyGet(h *extprocv3.HttpHeaders) error {
	if m := string(stream.HeaderBytes(h.GetHeaders(), ":method")); m != "GET" && m != "HEAD" {
		return stream.ErrMethod
	}
	return nil
}
