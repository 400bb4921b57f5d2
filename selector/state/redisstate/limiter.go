package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cpen/router/selector/state"
)

// Limiter counts admissions per key in a sliding window of state.Window
// shared by every Store on the same Redis and prefix. Its answers are
// those of state.Limiter for the same calls: the limit belongs to each
// check, and every admission of the key in the window counts against it,
// whatever limit admitted it.
//
// Each key is one sorted set of admissions. Members are the admission time
// in Unix nanoseconds as 19 zero-padded digits, then the Store's unique
// suffix; every score is 0, so the set is ordered by time and evicted with
// ZREMRANGEBYLEX. (Scores are float64, which round today's Unix
// nanoseconds to multiples of 256 ns: a score-keyed window would evict and
// report Reset off by up to 128 ns from the in-process limiter.) The set
// loses members only as they age out. A check adds one only while the set
// holds fewer than the check's limit, capped at 1,000,000, so it never
// holds more. One Lua script evicts, counts, adds when allowed and sets the
// key's expiry, atomically; it is sent by EVALSHA, with EVAL when Redis
// lacks it.
type Limiter struct{ s *Store }

// Admit takes a slot for key when fewer than limit admissions are in the
// window at now. A limit of 0 or less means unlimited: always allowed,
// nothing recorded, Redis not called. Limits above 1,000,000 count as
// 1,000,000. On a Redis error see WithFailClosed.
func (l *Limiter) Admit(ctx context.Context, key string, limit int, now time.Time) state.Admission {
	return l.check(ctx, "limiter.admit", key, limit, now, true)
}

// Peek answers like Admit would about the window as it stands, without
// taking a slot.
func (l *Limiter) Peek(ctx context.Context, key string, limit int, now time.Time) state.Admission {
	return l.check(ctx, "limiter.peek", key, limit, now, false)
}

// windowScript runs one check on the window KEYS[1].
// ARGV: limit, the exclusive upper bound of evicted members, now (19
// digits), "1" to take a slot, the member suffix, the window in ms.
// It returns {allowed (0/1), admissions in the window n, times}: times is
// the oldest admission (19 digits, "" when empty) and, on a denial, then
// the (n - limit + 1)-th oldest, whose leaving lets the check pass (19
// more digits; one string rather than a fourth value, which would cost
// the reply an allocation). Like state.Limiter it drops members only as
// they age out, never to fit a lower limit, and records a slot at the
// newest admission's time when the clock is behind it, so the set stays in
// time order.
const windowScript = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local now = ARGV[3]
-- a - b in ns for 19-digit times, exact while |a - b| < 2^53 ns
local function diff(a, b)
  return (tonumber(string.sub(a, 1, 10)) - tonumber(string.sub(b, 1, 10))) * 1000000000
    + (tonumber(string.sub(a, 11, 19)) - tonumber(string.sub(b, 11, 19)))
end
redis.call('ZREMRANGEBYLEX', key, '-', ARGV[2])
local n = redis.call('ZCARD', key)
local allowed = 0
local free = ''
if n < limit then
  allowed = 1
  if ARGV[4] == '1' then
    local t = now
    if n > 0 then
      local newest = string.sub(redis.call('ZRANGE', key, -1, -1)[1], 1, 19)
      if diff(newest, t) > 0 then t = newest end
    end
    redis.call('ZADD', key, 0, t .. ARGV[5])
    n = n + 1
    redis.call('PEXPIRE', key, tonumber(ARGV[6]) + math.ceil(diff(t, now) / 1000000))
  end
else
  free = string.sub(redis.call('ZRANGE', key, n - limit, n - limit)[1], 1, 19)
end
local oldest = ''
if n > 0 then
  oldest = string.sub(redis.call('ZRANGE', key, 0, 0)[1], 1, 19)
end
return {allowed, n, oldest .. free}
`

func (l *Limiter) check(parent context.Context, op, key string, limit int, now time.Time, take bool) state.Admission {
	if limit <= 0 {
		return state.Admission{Allowed: true}
	}
	limit = min(limit, state.MaxLimit)
	s := l.s
	t := max(now.UnixNano(), 0) // times before 1970 count as 1970
	// An admission at a counts while t < a + Window: evict every a below
	// t - Window + 1.
	evict := "(" + pad(max(t-int64(state.Window)+1, 0))
	takeArg, member := "0", ""
	if take {
		takeArg, member = "1", s.member+strconv.FormatUint(s.seq.Add(1), 36)
	}
	var w windowReply
	err := s.call(parent, op, func(ctx context.Context) error {
		res, err := s.window.Run(ctx, s.client, []string{s.windowKey(key)},
			limit, evict, pad(t), takeArg, member, state.Window.Milliseconds()).Slice()
		if err == nil {
			w, err = parseWindow(res)
		}
		return err
	})
	if err != nil {
		return l.failed(parent, key, limit, now, take)
	}
	return admission(w, limit, t)
}

// failed answers when Redis could not: failing closed, an Admission marked
// Unavailable; failing open, the fallback limiter's answer, or without one
// as if the window were empty.
func (l *Limiter) failed(ctx context.Context, key string, limit int, now time.Time, take bool) state.Admission {
	o := &l.s.opts
	switch {
	case o.failClosed:
		return state.Admission{Limit: limit, Unavailable: true}
	case o.fallbackLimiter != nil && take:
		return o.fallbackLimiter.Admit(ctx, key, limit, now)
	case o.fallbackLimiter != nil:
		return o.fallbackLimiter.Peek(ctx, key, limit, now)
	case take:
		return state.Admission{Allowed: true, Limit: limit, Remaining: limit - 1, Reset: state.Window}
	default:
		return state.Admission{Allowed: true, Limit: limit, Remaining: limit}
	}
}

var errBadReply = errors.New("redisstate: unexpected reply from the window script")

// windowReply is the window script's answer, times in Unix nanoseconds.
type windowReply struct {
	allowed bool
	n       int
	oldest  int64 // when n > 0
	free    int64 // when denied
}

func parseWindow(res []any) (windowReply, error) {
	if len(res) != 3 {
		return windowReply{}, fmt.Errorf("%w: %d values", errBadReply, len(res))
	}
	a, ok1 := res[0].(int64)
	c, ok2 := res[1].(int64)
	times, ok3 := res[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return windowReply{}, fmt.Errorf("%w: %v", errBadReply, res)
	}
	w := windowReply{allowed: a == 1, n: int(c)}
	want := 0
	if c > 0 {
		want = 19
	}
	if !w.allowed {
		want = 38
	}
	if len(times) != want {
		return windowReply{}, fmt.Errorf("%w: times %q", errBadReply, times)
	}
	var err error
	if want >= 19 {
		if w.oldest, err = strconv.ParseInt(times[:19], 10, 64); err != nil {
			return windowReply{}, fmt.Errorf("%w: oldest %q", errBadReply, times[:19])
		}
	}
	if want == 38 {
		if w.free, err = strconv.ParseInt(times[19:], 10, 64); err != nil {
			return windowReply{}, fmt.Errorf("%w: free %q", errBadReply, times[19:])
		}
	}
	return w, nil
}

// pad writes t (≥ 0) as 19 digits, so that byte order is time order.
func pad(t int64) string {
	var b [19]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + t%10)
		t /= 10
	}
	return string(b[:])
}
