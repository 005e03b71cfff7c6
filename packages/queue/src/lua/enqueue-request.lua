-- Appends the messages of one journaled request to their lanes (or the delayed set) at
-- most once: a guard key per request is set in the same atomic step, so a retry after a
-- crash, or the recovery pass racing the original intake, enqueues nothing twice.
-- KEYS[1] guard key of the request, KEYS[2] delayed zset, KEYS[3] delayed payload hash,
-- KEYS[4..] lane streams in priority order
-- ARGV[1] guard lifetime in seconds, then per message 4 values:
--   lane index (1-based), due time in ms or '' for now, message id, payload
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return -1
end
local count = 0
for i = 2, #ARGV, 4 do
  local lane = tonumber(ARGV[i])
  local due = ARGV[i + 1]
  if due == '' then
    redis.call('XADD', KEYS[3 + lane], '*', 'm', ARGV[i + 3])
  else
    redis.call('HSET', KEYS[3], ARGV[i + 2], lane .. '|' .. ARGV[i + 3])
    redis.call('ZADD', KEYS[2], tonumber(due), ARGV[i + 2])
  end
  count = count + 1
end
return count
