-- Token bucket of one provider, shared by every dispatcher replica. The clock is Redis's
-- own (TIME), never a caller's, so replicas whose clocks disagree still drain one bucket
-- at one rate. Refill is continuous: tokens are fractional and added in proportion to the
-- microseconds elapsed since the last call, so no refill tick can release a burst.
-- KEYS[1] bucket hash: tokens (fraction, as %.17g so it round-trips exactly) and
--         at (Redis time of the last refill, in microseconds)
-- ARGV[1] rate (tokens per second, > 0), ARGV[2] capacity (>= 1), ARGV[3] tokens wanted (>= 0)
-- Returns { tokens granted, ms until the next whole token is available (0 if one is) }.
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- A missing bucket is a full one: the key expires only once it would have refilled.
local tokens = capacity
local at = now
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if state[1] and state[2] then
  tokens = tonumber(state[1])
  at = tonumber(state[2])
  -- If Redis's clock stepped back (failover to a replica behind it), refill nothing until
  -- it passes the last stamp again, rather than refilling twice for the same interval.
  if now > at then
    tokens = tokens + (now - at) * rate / 1000000
    at = now
  end
  if tokens > capacity then tokens = capacity end
end

local granted = math.max(0, math.min(wanted, math.floor(tokens)))
tokens = tokens - granted

local wait_ms = 0
if tokens < 1 then wait_ms = math.ceil((1 - tokens) * 1000 / rate) end

-- %.0f: the default number-to-string conversion keeps 14 digits, which would round a
-- microsecond timestamp (16 digits) and refill a little too much on every call.
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.0f', at))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * 1000 / rate) + 1000)
return { granted, wait_ms }
