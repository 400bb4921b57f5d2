package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/cpen/router/selector"
	"github.com/cpen/router/selector/state"
)

// Pins keeps continuity pins per (key, alias), shared by every Store on
// the same Redis and prefix, with the answers of state.Pins: a pin lives
// until state.PinTTL after its last Set, by the caller's clock.
//
// Each pin is one string key (see Store) holding
//
//	1|expires|route id|model family|visible total
//
// with expires in Unix nanoseconds (Set's now + PinTTL, checked by Get
// against its now), the text fields escaped, and the visible total as its
// exact decimal string. Every Set also gives the key a Redis TTL of PinTTL
// (SET ... PX), so Redis drops pins nobody refreshes.
type Pins struct{ s *Store }

// Get returns the pin for (key, alias) unless it is missing or expired at
// now. A Redis error or an unreadable value is reported to the error hook
// and answered as a miss.
func (p *Pins) Get(parent context.Context, key, alias string, now time.Time) (selector.Pin, bool) {
	s := p.s
	var v string
	missing := false
	err := s.call(parent, "pins.get", func(ctx context.Context) error {
		var err error
		v, err = s.client.Get(ctx, s.pinKey(key, alias)).Result()
		if errors.Is(err, redis.Nil) {
			missing, err = true, nil
		}
		return err
	})
	if err != nil {
		if fb := s.opts.fallbackPins; fb != nil && !s.opts.failClosed {
			return fb.Get(parent, key, alias, now)
		}
		return selector.Pin{}, false
	}
	if missing {
		return selector.Pin{}, false
	}
	pin, expires, err := decodePin(v)
	if err != nil {
		s.fail("pins.get", err)
		return selector.Pin{}, false
	}
	if now.UnixNano() >= expires {
		return selector.Pin{}, false
	}
	return pin, true
}

// Set stores or refreshes the pin for (key, alias) until now + PinTTL. A
// Redis error is reported to the error hook.
func (p *Pins) Set(parent context.Context, key, alias string, pin selector.Pin, now time.Time) {
	s := p.s
	v := encodePin(pin, now.UnixNano()+int64(state.PinTTL))
	err := s.call(parent, "pins.set", func(ctx context.Context) error {
		return s.client.Set(ctx, s.pinKey(key, alias), v, state.PinTTL).Err()
	})
	if fb := s.opts.fallbackPins; err != nil && fb != nil && !s.opts.failClosed {
		fb.Set(parent, key, alias, pin, now)
	}
}

func encodePin(p selector.Pin, expires int64) string {
	var b strings.Builder
	b.WriteString("1|")
	b.WriteString(strconv.FormatInt(expires, 10))
	b.WriteByte('|')
	b.WriteString(escape(p.RouteID))
	b.WriteByte('|')
	b.WriteString(escape(p.ModelFamily))
	b.WriteByte('|')
	b.WriteString(p.VisibleTotal.String())
	return b.String()
}

var errBadPin = errors.New("redisstate: unreadable pin value")

func decodePin(v string) (p selector.Pin, expires int64, err error) {
	f := strings.Split(v, "|")
	if len(f) != 5 || f[0] != "1" {
		return selector.Pin{}, 0, fmt.Errorf("%w: %d fields", errBadPin, len(f))
	}
	if expires, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		return selector.Pin{}, 0, fmt.Errorf("%w: expiry %q", errBadPin, f[1])
	}
	total, err := decimal.NewFromString(f[4])
	if err != nil {
		return selector.Pin{}, 0, fmt.Errorf("%w: visible total %q", errBadPin, f[4])
	}
	return selector.Pin{RouteID: unescape(f[2]), ModelFamily: unescape(f[3]), VisibleTotal: total}, expires, nil
}
