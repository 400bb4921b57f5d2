package redisstate

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ledgerScripts are the credit ledger's Lua scripts. Each runs atomically
// in Redis and is sent by EVALSHA, with EVAL when Redis lacks it.
type ledgerScripts struct {
	admit, settle, renew, balance *redis.Script
}

func newLedgerScripts() ledgerScripts {
	return ledgerScripts{
		admit:   redis.NewScript(ledgerLib + windowLib + admitScript),
		settle:  redis.NewScript(ledgerLib + settleScript),
		renew:   redis.NewScript(ledgerLib + renewScript),
		balance: redis.NewScript(ledgerLib + balanceScript),
	}
}

// ledgerLib starts every ledger script. KEYS[1..4] are always the
// account's hash, open set, amounts hash and expired hash (see Ledger).
// Money is (hi, lo) pairs of integers (see money); every step below stays
// an integer under 2^53, which a Lua double holds exactly, and is written
// back with %d, never in a float's notation.
const ledgerLib = `
local SPAN = 1000000000000
local function add(ah, al, bh, bl)
  local h, l = ah + bh, al + bl
  if l >= SPAN then return h + 1, l - SPAN end
  return h, l
end
local function sub(ah, al, bh, bl)
  local h, l = ah - bh, al - bl
  if l < 0 then return h - 1, l + SPAN end
  return h, l
end
local function int(x) return string.format('%d', x) end
local function load()
  local v = redis.call('HMGET', KEYS[1], 'spent_hi', 'spent_lo', 'reserved_hi', 'reserved_lo')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
end
local function store(sh, sl, rh, rl)
  redis.call('HSET', KEYS[1], 'spent_hi', int(sh), 'spent_lo', int(sl), 'reserved_hi', int(rh), 'reserved_lo', int(rl))
end
-- "hi:lo:expiry" (open) or "hi:lo" (expired): the amount as numbers and
-- the expiry as its 19 digits
local function parse(v)
  local h, l, e = string.match(v, '^(%d+):(%d+):?(%d*)$')
  return tonumber(h), tonumber(l), e
end
-- sweep debits in full at most max open reservations whose expiry is
-- below bound, and keeps their amounts for a late Settle.
local function sweep(sh, sl, rh, rl, bound, max, keep)
  local due = redis.call('ZRANGEBYLEX', KEYS[2], '-', bound, 'LIMIT', 0, max)
  for _, m in ipairs(due) do
    local id = string.sub(m, 20)
    local v = redis.call('HGET', KEYS[3], id)
    if v then
      local h, l = parse(v)
      sh, sl = add(sh, sl, h, l)
      rh, rl = sub(rh, rl, h, l)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HSET', KEYS[4], id, int(h) .. ':' .. int(l))
    end
    redis.call('ZREM', KEYS[2], m)
  end
  if #due > 0 then redis.call('PEXPIRE', KEYS[4], keep) end
  return sh, sl, rh, rl, #due
end
`

// admitScript is the window check of windowScript on KEYS[5], KEYS[6]
// (with windowLib: the same keys, members and rounding as Limiter)
// followed by the credit check and the reservation, so a request takes
// both or neither.
// ARGV: 1 limit (0: no window), 2 the exclusive upper bound of evicted
// window members, 3 now (19 digits), 4 the window member suffix, 5 the
// window in ms, 6 the reservation id, 7 its expiry (19 digits), 8 and 9
// the amount (hi, lo), 10 and 11 the credit, 12 the exclusive upper bound
// of due open members, 13 the most reservations to expire, 14 how long to
// keep expired ones (ms), 15 the exact window members kept.
// It returns {allowed, n, times} as windowScript does (allowed 1, n 0,
// times "" without a window), then reserved (0/1), then the spent and
// reserved (hi, lo) before this reservation.
const admitScript = `
local win, wsec = KEYS[5], KEYS[6]
local limit = tonumber(ARGV[1])
local now = ARGV[3]
local wms = tonumber(ARGV[5])
local n, ne, bn, lo, hi = 0, 0, 0, 0, 0
local oldest = ''
if limit > 0 then
  ne, bn, lo, hi = wopen(win, wsec, ARGV[2], now, wms)
  n = ne + bn
  oldest = woldest(win, ne, bn, lo)
  if n >= limit then
    return {0, n, oldest .. wkth(win, wsec, bn, lo, n - limit), 0, 0, 0, 0, 0}
  end
end
local sh, sl, rh, rl = load()
local swept
sh, sl, rh, rl, swept = sweep(sh, sl, rh, rl, ARGV[12], tonumber(ARGV[13]), ARGV[14])
local ah, al = tonumber(ARGV[8]), tonumber(ARGV[9])
local nh, nl = add(sh, sl, rh, rl)
nh, nl = add(nh, nl, ah, al)
local ch, cl = tonumber(ARGV[10]), tonumber(ARGV[11])
if nh > ch or (nh == ch and nl > cl) then
  if swept > 0 then store(sh, sl, rh, rl) end
  return {1, n, oldest, 0, sh, sl, rh, rl}
end
if limit > 0 then
  local _
  _, bn, lo = wpush(win, wsec, now, ARGV[4], tonumber(ARGV[15]), wms, ne, bn, lo, hi)
  ne = n + 1 - bn
  n = n + 1
  oldest = woldest(win, ne, bn, lo)
end
redis.call('ZADD', KEYS[2], 0, ARGV[7] .. ARGV[6])
redis.call('HSET', KEYS[3], ARGV[6], ARGV[8] .. ':' .. ARGV[9] .. ':' .. ARGV[7])
local h2, l2 = add(rh, rl, ah, al)
store(sh, sl, h2, l2)
return {1, n, oldest, 1, sh, sl, rh, rl}
`

// settleScript releases the open reservation ARGV[1] and debits the cost
// (ARGV[2], ARGV[3]), or corrects the full debit of an expired one to the
// cost and forgets it. It returns 1 (settled), 2 (corrected) or 0 (unknown:
// settled already, or expired too long ago).
const settleScript = `
local id = ARGV[1]
local ch, cl = tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HGET', KEYS[3], id)
if v then
  local h, l, e = parse(v)
  local sh, sl, rh, rl = load()
  rh, rl = sub(rh, rl, h, l)
  sh, sl = add(sh, sl, ch, cl)
  store(sh, sl, rh, rl)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], e .. id)
  return 1
end
v = redis.call('HGET', KEYS[4], id)
if v then
  local h, l = parse(v)
  local sh, sl, rh, rl = load()
  sh, sl = sub(sh, sl, h, l)
  sh, sl = add(sh, sl, ch, cl)
  store(sh, sl, rh, rl)
  redis.call('HDEL', KEYS[4], id)
  return 2
end
return 0
`

// renewScript moves the open reservation ARGV[1]'s expiry to ARGV[3] (19
// digits) if that is later. One due at now (ARGV[2]) has expired, swept
// or not, and stays as it is. It returns 1 when the reservation is open.
const renewScript = `
local id = ARGV[1]
local v = redis.call('HGET', KEYS[3], id)
if not v then return 0 end
local h, l, e = parse(v)
if e <= ARGV[2] then return 0 end
if ARGV[3] > e then
  redis.call('ZREM', KEYS[2], e .. id)
  redis.call('ZADD', KEYS[2], 0, ARGV[3] .. id)
  redis.call('HSET', KEYS[3], id, int(h) .. ':' .. int(l) .. ':' .. ARGV[3])
end
return 1
`

// balanceScript expires every open reservation below ARGV[1], in batches
// of ARGV[2], keeping expired ones ARGV[3] ms, and returns the spent and
// reserved (hi, lo).
const balanceScript = `
local batch = tonumber(ARGV[2])
local sh, sl, rh, rl = load()
local total, swept = 0, 0
repeat
  sh, sl, rh, rl, swept = sweep(sh, sl, rh, rl, ARGV[1], batch, ARGV[3])
  total = total + swept
until swept < batch
if total > 0 then store(sh, sl, rh, rl) end
return {sh, sl, rh, rl}
`

// admitReply is the admit script's answer.
type admitReply struct {
	window            windowReply
	reserved          bool
	spent, onReserved money // before this request
}

func parseAdmit(res []any) (admitReply, error) {
	if len(res) != 8 {
		return admitReply{}, fmt.Errorf("%w: %d values", errBadReply, len(res))
	}
	w, err := parseWindow(res[:3])
	if err != nil {
		return admitReply{}, err
	}
	r, ok := res[3].(int64)
	if !ok || r < 0 || r > 1 || (r == 1 && !w.allowed) {
		return admitReply{}, fmt.Errorf("%w: reserved %v", errBadReply, res[3])
	}
	m, err := parseMoney(res[4:])
	if err != nil {
		return admitReply{}, err
	}
	return admitReply{window: w, reserved: r == 1, spent: m[0], onReserved: m[1]}, nil
}

// parseMoney reads two (hi, lo) pairs: spent, then reserved.
func parseMoney(res []any) ([2]money, error) {
	var m [2]money
	if len(res) != 4 {
		return m, fmt.Errorf("%w: %d amounts", errBadReply, len(res))
	}
	for i := range m {
		hi, ok1 := res[2*i].(int64)
		lo, ok2 := res[2*i+1].(int64)
		if !ok1 || !ok2 || lo < 0 || lo >= loSpan {
			return m, fmt.Errorf("%w: amount %v, %v", errBadReply, res[2*i], res[2*i+1])
		}
		m[i] = money{hi: hi, lo: lo}
	}
	return m, nil
}
