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
// those of state.Limiter for the same calls, rounding included: the limit
// belongs to each check, every admission of the key in the window counts
// against it, whatever limit admitted it, and only the newest
// state.ExactTail admissions are kept to the nanosecond, older ones
// counted per whole second and leaving at the end of that second plus the
// window (up to a second late, never early).
//
// Each key is two Redis keys, with p the prefix and k the escaped key:
//
//	p + "rpm:" + k         sorted set of the newest admissions (at most
//	                       state.ExactTail)
//	p + "rpm:" + k + ":s"  hash of older ones: field "m" is "n lo hi" (how
//	                       many, the oldest and newest second), then one
//	                       field per Unix second holding its count (at
//	                       most 61 seconds, as in state.Limiter)
//
// Members of the set are the admission time in Unix nanoseconds as 19
// zero-padded digits, then the Store's unique suffix; every score is 0,
// so the set is ordered by time and evicted with ZREMRANGEBYLEX. (Scores
// are float64, which round today's Unix nanoseconds to multiples of 256
// ns: a score-keyed window would evict and report Reset off by up to 128
// ns from the in-process limiter.) A check adds one only while the window
// holds fewer than the check's limit, capped at 1,000,000. One Lua script
// evicts, counts, adds when allowed, moves the oldest exact admission to
// its second's count when the set is full, and sets the keys' expiry,
// atomically; it is sent by EVALSHA, with EVAL when Redis lacks it.
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

// windowLib is the window of one key, shared by windowScript and the
// ledger's admit script so that both count the same admissions the same
// way. Times are 19-digit strings (Lua numbers are doubles, exact only to
// 2^53); seconds are their first 10 digits, as numbers. A time standing
// for a per-second count is the start of the next second: plus the
// window, it is when that count leaves.
const windowLib = `
-- a - b in ns for 19-digit times, exact while |a - b| < 2^53 ns
local function diff(a, b)
  return (tonumber(string.sub(a, 1, 10)) - tonumber(string.sub(b, 1, 10))) * 1000000000
    + (tonumber(string.sub(a, 11, 19)) - tonumber(string.sub(b, 11, 19)))
end
local function int(x) return string.format('%d', x) end
local function secstart(s) return string.format('%010d', s) .. '000000000' end
-- wopen evicts what left by now (exact members below bound; counted
-- seconds s with s + 1 + window <= now) and returns the exact count, the
-- counted one and the oldest and newest counted seconds.
local function wopen(win, sec, bound, now, wms)
  redis.call('ZREMRANGEBYLEX', win, '-', bound)
  local ne = redis.call('ZCARD', win)
  local m = redis.call('HGET', sec, 'm')
  if not m then return ne, 0, 0, 0 end
  local a, b, c = string.match(m, '^(%d+) (%d+) (%d+)$')
  local bn, lo, hi = tonumber(a), tonumber(b), tonumber(c)
  local cut = tonumber(string.sub(now, 1, 10)) - wms / 1000 - 1
  if lo > cut then return ne, bn, lo, hi end
  -- counted seconds lie in [lo, hi], at most 61 of them
  while bn > 0 and lo <= hi do
    local v = redis.call('HGET', sec, int(lo))
    if v and lo > cut then break end
    if v then
      bn = bn - tonumber(v)
      redis.call('HDEL', sec, int(lo))
    end
    lo = lo + 1
  end
  if bn == 0 then
    redis.call('DEL', sec)
    return ne, 0, 0, 0
  end
  redis.call('HSET', sec, 'm', int(bn) .. ' ' .. int(lo) .. ' ' .. int(hi))
  return ne, bn, lo, hi
end
-- woldest is the time of the oldest admission ('' when none).
local function woldest(win, ne, bn, lo)
  if bn > 0 then return secstart(lo + 1) end
  if ne > 0 then return string.sub(redis.call('ZRANGE', win, 0, 0)[1], 1, 19) end
  return ''
end
-- wkth is the time of the k-th admission (from 0) to leave: exact members
-- are never in an earlier second than a count, and those in a count's
-- second leave before it.
local function wkth(win, sec, bn, lo, k)
  local i = 0
  local s = lo
  while bn > 0 do
    local v = redis.call('HGET', sec, int(s))
    if v then
      while true do
        local m = redis.call('ZRANGE', win, i, i)[1]
        if not m or tonumber(string.sub(m, 1, 10)) ~= s then break end
        if k == 0 then return string.sub(m, 1, 19) end
        k = k - 1
        i = i + 1
      end
      local c = tonumber(v)
      if k < c then return secstart(s + 1) end
      k = k - c
      bn = bn - c
    end
    s = s + 1
  end
  return string.sub(redis.call('ZRANGE', win, i + k, i + k)[1], 1, 19)
end
-- wpush records an admission at now, no earlier than the newest exact
-- member or, without one, the start of the newest counted second; when
-- the set holds tail members its oldest moves to its second's count.
-- It returns the time recorded and the new bn, lo.
local function wpush(win, sec, now, member, tail, wms, ne, bn, lo, hi)
  local t = now
  if ne > 0 then
    local newest = string.sub(redis.call('ZRANGE', win, -1, -1)[1], 1, 19)
    if diff(newest, t) > 0 then t = newest end
  elseif bn > 0 and diff(secstart(hi), t) > 0 then
    t = secstart(hi)
  end
  local ahead = math.ceil(diff(t, now) / 1000000)
  if ne >= tail then
    local s = tonumber(string.sub(redis.call('ZPOPMIN', win)[1], 1, 10))
    if bn == 0 then lo = s end
    bn = bn + 1
    redis.call('HINCRBY', sec, int(s), 1)
    redis.call('HSET', sec, 'm', int(bn) .. ' ' .. int(lo) .. ' ' .. int(s))
    redis.call('PEXPIRE', sec, wms + 1000 + ahead)
  end
  redis.call('ZADD', win, 0, t .. member)
  redis.call('PEXPIRE', win, wms + ahead)
  return t, bn, lo
end
`

// windowScript runs one check on the window KEYS[1], KEYS[2] (see
// Limiter). ARGV: limit, the exclusive upper bound of evicted members,
// now (19 digits), "1" to take a slot, the member suffix, the window in
// ms, the exact members kept.
// It returns {allowed (0/1), admissions in the window n, times}: times is
// the oldest admission (19 digits, "" when empty) and, on a denial, then
// the time of the (n - limit + 1)-th to leave, whose leaving lets the
// check pass (19 more digits; one string rather than a fourth value,
// which would cost the reply an allocation). Like state.Limiter it drops
// admissions only as they leave, never to fit a lower limit.
const windowScript = windowLib + `
local win, sec = KEYS[1], KEYS[2]
local limit = tonumber(ARGV[1])
local now = ARGV[3]
local wms = tonumber(ARGV[6])
local ne, bn, lo, hi = wopen(win, sec, ARGV[2], now, wms)
local n = ne + bn
local allowed = 0
local free = ''
if n < limit then
  allowed = 1
  if ARGV[4] == '1' then
    local _
    _, bn, lo = wpush(win, sec, now, ARGV[5], tonumber(ARGV[7]), wms, ne, bn, lo, hi)
    ne = n + 1 - bn
    n = n + 1
  end
else
  free = wkth(win, sec, bn, lo, n - limit)
end
return {allowed, n, woldest(win, ne, bn, lo) .. free}
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
		res, err := s.window.Run(ctx, s.client, s.windowKeys(key),
			limit, evict, pad(t), takeArg, member, state.Window.Milliseconds(), state.ExactTail).Slice()
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

// windowKeys are the key's window: its exact set and its per-second
// counts.
func (s *Store) windowKeys(key string) []string {
	k := s.windowKey(key)
	return []string{k, k + ":s"}
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
