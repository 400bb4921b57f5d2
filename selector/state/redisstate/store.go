// Package redisstate keeps the live state that replicas must share in Redis:
// per-key RPM windows, continuity pins and the credit ledger. It implements
// the same behaviour as the in-process selector/state Limiter, Pins and
// Ledger, answer for answer, so a sidecar can switch with --redis-addr.
//
// A failed call opens a circuit breaker: until a probe (one call per probe
// interval) succeeds, calls fail at once rather than each waiting out the
// timeout, and are answered as failures are.
//
// Every call takes the caller's time, as the in-process state does: the
// limiter records and evicts admissions by that time, never by Redis TIME,
// so tests are deterministic and replicas agree as far as their clocks do
// (a skew of d between two replicas shifts when one sees the other's
// admissions leave the window by up to d). Each call runs under its own
// timeout; a Redis error is reported to the error hook and answered by the
// fail-open or fail-closed setting (limiter), as a miss (pins) or with an
// error wrapping state.ErrUnavailable (ledger).
//
// Nothing here starts a goroutine or logs; the go-redis client belongs to
// the caller, who closes it.
package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpen/router/selector/state"
)

// DefaultPrefix starts every key this package writes.
const DefaultPrefix = "cpen:"

// DefaultTimeout bounds each Redis call.
const DefaultTimeout = 50 * time.Millisecond

// Store reaches the shared state in one Redis (or cluster) through client.
// It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	opts   options
	// member makes limiter entries unique across Stores (replicas): a
	// random id, then a per-Store counter.
	member  string
	seq     atomic.Uint64
	window  *redis.Script
	ledger  ledgerScripts
	breaker breaker
}

type options struct {
	prefix     string
	failClosed bool
	onError    func(op string, err error)
	timeout    time.Duration
	// reservationTTL is how long a credit reservation lives after it was
	// taken or last renewed.
	reservationTTL time.Duration
	// fallbackLimiter and fallbackPins serve, when set and not failing
	// closed, while Redis fails: this replica's own windows and pins.
	fallbackLimiter *state.Limiter
	fallbackPins    *state.Pins
	probeInterval   time.Duration
	onChange        func(up bool, err error)
}

// Option configures a Store.
type Option func(*options)

// WithPrefix sets the prefix of every key (default DefaultPrefix), so
// several deployments can share one Redis.
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithFailClosed picks what the limiter answers when Redis fails: false
// (the default) admits through the fallback limiter (WithFallback), or as
// if the key's window were empty without one; true answers an Admission
// marked Unavailable, for the caller to refuse the request. Either way the
// error hook is called.
func WithFailClosed(closed bool) Option { return func(o *options) { o.failClosed = closed } }

// WithFallback sets the in-process limiter and pins that serve while Redis
// fails and the Store does not fail closed: each replica then applies
// every limit alone, and continuity pins live on the replica that set
// them, until Redis answers again (its windows and pins resume as they
// were).
func WithFallback(l *state.Limiter, p *state.Pins) Option {
	return func(o *options) { o.fallbackLimiter, o.fallbackPins = l, p }
}

// WithBreaker sets how often a failing Redis is probed (default
// DefaultProbeInterval; non-positive keeps it) and a function called, from
// the calling goroutine, once per change: up false with the error that
// opened the breaker, up true when a probe succeeded.
func WithBreaker(interval time.Duration, onChange func(up bool, err error)) Option {
	return func(o *options) {
		if interval > 0 {
			o.probeInterval = interval
		}
		o.onChange = onChange
	}
}

// WithErrorHook sets the function called, from the calling goroutine, with
// the operation ("limiter.admit", "limiter.peek", "pins.get", "pins.set",
// "ledger.admit", "ledger.settle", "ledger.renew", "ledger.balance") and
// the error each time Redis fails or returns something unreadable, so the
// server can count and log failures and flip its redis health. A key that
// is simply missing is not an error. The ledger also returns its errors,
// for the caller to refuse the request; the hook has already seen them.
func WithErrorHook(f func(op string, err error)) Option {
	return func(o *options) { o.onError = f }
}

// WithTimeout bounds each Redis call (default DefaultTimeout) through its
// context; a non-positive d keeps the default. go-redis lets a context
// bound socket reads and writes only when the client was built with
// ContextTimeoutEnabled: true; otherwise its ReadTimeout and WriteTimeout
// (3 s by default) apply instead. While Redis is unreachable each call
// lasts its whole timeout (go-redis redials until the deadline).
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithReservationTTL sets how long a credit reservation lives after it was
// taken or last renewed (default state.ReservationTTL); a non-positive d
// keeps the default.
func WithReservationTTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.reservationTTL = d
		}
	}
}

// New returns a Store that uses client, which stays the caller's to close.
// Build the client with ContextTimeoutEnabled: true (see WithTimeout).
func New(client redis.UniversalClient, opts ...Option) *Store {
	o := options{prefix: DefaultPrefix, timeout: DefaultTimeout, reservationTTL: state.ReservationTTL, probeInterval: DefaultProbeInterval}
	for _, opt := range opts {
		opt(&o)
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand, Go 1.24+)
	return &Store{
		client:  client,
		opts:    o,
		member:  ":" + hex.EncodeToString(id[:]) + ":",
		window:  redis.NewScript(windowScript),
		ledger:  newLedgerScripts(),
		breaker: breaker{interval: o.probeInterval, onChange: o.onChange},
	}
}

// Limiter returns the shared per-key RPM limiter.
func (s *Store) Limiter() *Limiter { return &Limiter{s: s} }

// Pins returns the shared continuity pin store.
func (s *Store) Pins() *Pins { return &Pins{s: s} }

// Ledger returns the shared credit ledger.
func (s *Store) Ledger() *Ledger { return &Ledger{s: s} }

func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.opts.timeout)
}

func (s *Store) fail(op string, err error) {
	if s.opts.onError != nil {
		s.opts.onError(op, err)
	}
}

// Key layout, with p the prefix and each part escaped:
//
//	p + "rpm:" + key              sorted set: the key's newest admissions, exact
//	p + "rpm:" + key + ":s"       hash: older admissions counted per second
//	p + "pin:" + key + ":" + alias string: the pin of (key, alias)
//	p + "credit:{" + account + "}..."  the account's ledger (see Ledger)

func (s *Store) windowKey(key string) string {
	return s.opts.prefix + "rpm:" + escape(key)
}

func (s *Store) pinKey(key, alias string) string {
	return s.opts.prefix + "pin:" + escape(key) + ":" + escape(alias)
}

// escaper percent-encodes the separators used in keys (':') and pin values
// ('|'), and '%' itself, so distinct parts never build the same string.
var escaper = strings.NewReplacer("%", "%25", ":", "%3A", "|", "%7C")

var unescaper = strings.NewReplacer("%25", "%", "%3A", ":", "%7C", "|")

func escape(s string) string {
	if !strings.ContainsAny(s, "%:|") {
		return s
	}
	return escaper.Replace(s)
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	return unescaper.Replace(s)
}
