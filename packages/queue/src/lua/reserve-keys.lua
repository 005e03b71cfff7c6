-- Reserves idempotency keys, or reports what they hold, in one atomic step per call so
-- that of two concurrent requests with the same key exactly one gets 'n'. Keys are
-- handled in order, so a key repeated within one call is 'n' once, then 'p'.
-- KEYS[1..n] idempotency keys
-- ARGV[1] time to live of a fresh reservation, in ms
-- Returns per key: 'n' reserved by this call, 'p' reserved by an earlier call and not
-- completed, or 'd' followed by the stored value once completed.
local replies = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, 'p', 'NX', 'PX', ARGV[1]) then
    replies[i] = 'n'
  else
    replies[i] = redis.call('GET', key)
  end
end
return replies
