package redisstate

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cpen/router/selector/state"
)

// maxLimit caps a window's limit, as selector/state does.
const maxLimit = 1_000_000

// Limiter counts admissions per key in a sliding window of state.Window
// (api.md §7) shared by every Store on the same Redis and prefix. Its
// answers are those of state.Limiter for the same calls.
//
// Each key is one sorted set of admissions. Members are the admission time
// in Unix nanoseconds as 19 zero-padded digits, then the Store's unique
// suffix; every score is 0, so the set is ordered by time and evicted with
// ZREMRANGEBYLEX. (Scores are float64, which round today's Unix
// nanoseconds to multiples of 256 ns: a score-keyed window would evict and
// report Reset off by up to 128 ns from the in-process limiter.) One Lua script evicts,
// trims to the limit, counts, adds when allowed and sets the key's expiry,
// atomically; it is sent by EVALSHA, with EVAL when Redis lacks it.
type Limiter struct{ s *Store }

// Admit takes a slot for key when fewer than limit admissions are in the
// window at now. A limit of 0 or less means unlimited: always allowed,
// nothing recorded, Redis not called. Limits above 1,000,000 count as
// 1,000,000. On a Redis error see WithFailClosed.
func (l *Limiter) Admit(key string, limit int, now time.Time) state.Admission {
	return l.check("limiter.admit", key, limit, now, true)
}

// Peek answers like Admit would about the window as it stands, without
// taking a slot.
func (l *Limiter) Peek(key string, limit int, now time.Time) state.Admission {
	return l.check("limiter.peek", key, limit, now, false)
}

// windowScript runs one check on the window KEYS[1].
// ARGV: limit, the exclusive upper bound of evicted members, now (19
// digits), "1" to take a slot, the member suffix, the window in ms.
// It returns {allowed (0/1), admissions in the window, oldest (19 digits,
// "" when empty)}. Like state.Limiter it trims the window to the newest
// limit admissions (a denial then waits for the oldest kept one, as if all
// were kept) and records a slot at the newest admission's time when the
// clock is behind it, so the set stays in time order.
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
if n > limit then
  redis.call('ZREMRANGEBYRANK', key, 0, n - limit - 1)
  n = limit
end
local allowed = 0
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
end
local oldest = ''
if n > 0 then
  oldest = string.sub(redis.call('ZRANGE', key, 0, 0)[1], 1, 19)
end
return {allowed, n, oldest}
`

func (l *Limiter) check(op, key string, limit int, now time.Time, take bool) state.Admission {
	if limit <= 0 {
		return state.Admission{Allowed: true}
	}
	limit = min(limit, maxLimit)
	s := l.s
	t := max(now.UnixNano(), 0) // times before 1970 count as 1970
	// An admission at a counts while t < a + Window: evict every a below
	// t - Window + 1.
	evict := "(" + pad(max(t-int64(state.Window)+1, 0))
	takeArg, member := "0", ""
	if take {
		takeArg, member = "1", s.member+strconv.FormatUint(s.seq.Add(1), 36)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	res, err := s.window.Run(ctx, s.client, []string{s.windowKey(key)},
		limit, evict, pad(t), takeArg, member, state.Window.Milliseconds()).Slice()
	var (
		allowed bool
		n       int
		oldest  int64
	)
	if err == nil {
		allowed, n, oldest, err = parseWindow(res)
	}
	if err != nil {
		s.fail(op, err)
		return l.failed(limit, take)
	}
	if !allowed {
		reset := time.Duration(oldest + int64(state.Window) - t)
		return state.Admission{Limit: limit, Reset: reset, RetryAfter: max(reset, time.Second)}
	}
	a := state.Admission{Allowed: true, Limit: limit, Remaining: limit - n}
	if n > 0 {
		a.Reset = time.Duration(oldest + int64(state.Window) - t)
	}
	return a
}

// failed answers when Redis could not: fail-open as if the window were
// empty, fail-closed with a denial to retry in a second.
func (l *Limiter) failed(limit int, take bool) state.Admission {
	switch {
	case l.s.opts.failClosed:
		return state.Admission{Limit: limit, Reset: time.Second, RetryAfter: time.Second}
	case take:
		return state.Admission{Allowed: true, Limit: limit, Remaining: limit - 1, Reset: state.Window}
	default:
		return state.Admission{Allowed: true, Limit: limit, Remaining: limit}
	}
}

var errBadReply = errors.New("redisstate: unexpected reply from the window script")

func parseWindow(res []any) (allowed bool, n int, oldest int64, err error) {
	if len(res) != 3 {
		return false, 0, 0, fmt.Errorf("%w: %d values", errBadReply, len(res))
	}
	a, ok1 := res[0].(int64)
	c, ok2 := res[1].(int64)
	o, ok3 := res[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return false, 0, 0, fmt.Errorf("%w: %v", errBadReply, res)
	}
	if c > 0 {
		if oldest, err = strconv.ParseInt(o, 10, 64); err != nil {
			return false, 0, 0, fmt.Errorf("%w: oldest %q", errBadReply, o)
		}
	}
	return a == 1, int(c), oldest, nil
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
