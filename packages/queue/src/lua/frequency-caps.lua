-- Frequency caps of several messages in one atomic step, shared by every dispatcher
-- replica. Each cap key is a sliding-window log: a sorted set of the message ids counted,
-- scored by when they were handed to a provider. A message is admitted only if every one
-- of its caps has room, and then counted in all of them; otherwise in none.
-- The time comes from the caller (the dispatcher's clock), because the answer is a time
-- to wait until in the delayed set, whose scores are dispatcher times too.
-- KEYS    one per (message, cap), the keys of one message next to each other
-- ARGV[1] now (ms); then four per key: message index, max, window (ms), member (message id)
-- Returns per message: 0 when admitted (and counted), or { allowed-at ms, blocking key's
-- position among the message's keys (1-based) } as two flat numbers: 0, 0 when admitted.
local now = tonumber(ARGV[1])
local out = {}
local i = 1
local n = #KEYS
while i <= n do
  local group = ARGV[2 + (i - 1) * 4]
  local last = i
  while last < n and ARGV[2 + last * 4] == group do last = last + 1 end
  local allowed_at = 0
  local blocking = 0
  for j = i, last do
    local b = 2 + (j - 1) * 4
    local max = tonumber(ARGV[b + 1])
    local window = tonumber(ARGV[b + 2])
    local member = ARGV[b + 3]
    -- An entry counts for [its time, its time + window).
    redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now - window)
    -- Counted already (a retry, or a resend after a crash): it holds its place.
    if not redis.call('ZSCORE', KEYS[j], member) then
      local count = redis.call('ZCARD', KEYS[j])
      if count >= max then
        -- Room for one more once the (count - max + 1)th oldest leaves the window.
        local entry = redis.call('ZRANGE', KEYS[j], count - max, count - max, 'WITHSCORES')
        local at = tonumber(entry[2]) + window
        if at > allowed_at then
          allowed_at = at
          blocking = j - i + 1
        end
      end
    end
  end
  if blocking == 0 then
    for j = i, last do
      local b = 2 + (j - 1) * 4
      redis.call('ZADD', KEYS[j], 'NX', now, ARGV[b + 3])
      redis.call('PEXPIRE', KEYS[j], tonumber(ARGV[b + 2]) + 1000)
    end
  end
  out[#out + 1] = allowed_at
  out[#out + 1] = blocking
  i = last + 1
end
return out
