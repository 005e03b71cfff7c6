-- Moves delayed entries whose due time has come back to their lane, atomically, so
-- that any number of dispatcher replicas can run the promoter without a leader:
-- an entry is removed from the delayed set in the same step that appends it to a lane.
-- KEYS[1] delayed zset (member = message id, score = due time in ms)
-- KEYS[2] hash message id -> "<lane index>|<payload>"
-- KEYS[3..] lane streams, in priority order
-- ARGV[1] now in ms, ARGV[2] max entries to move
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  local stored = redis.call('HGET', KEYS[2], id)
  if stored then
    local sep = string.find(stored, '|', 1, true)
    local lane = tonumber(string.sub(stored, 1, sep - 1))
    redis.call('XADD', KEYS[2 + lane], '*', 'm', string.sub(stored, sep + 1))
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREM', KEYS[1], id)
end
return #due
