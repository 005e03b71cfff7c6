-- Moves delayed entries whose due time has come to their lane, atomically, so that any
-- number of dispatcher replicas can run the promoter without a leader: an entry is
-- removed from the delayed set in the same step that appends it to a lane.
-- KEYS[1] delayed set (member = entry of entry-codec.ts, its first character the lane
--         digit; score = due time in ms)
-- KEYS[2] the 0.1 delayed set (member = message id), KEYS[3] its payloads (message id ->
--         "<lane index>|<message JSON>"): drained too, so what was parked before an upgrade comes due
-- KEYS[4..] lane streams, in priority order
-- ARGV[1] now in ms, ARGV[2] max entries to move
-- Returns how many entries moved.
local limit = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit)
for _, entry in ipairs(due) do
  redis.call('XADD', KEYS[3 + tonumber(string.sub(entry, 1, 1))], '*', 'm', entry)
  redis.call('ZREM', KEYS[1], entry)
end
local moved = #due
if moved >= limit then return moved end
local legacy = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit - moved)
for _, id in ipairs(legacy) do
  local stored = redis.call('HGET', KEYS[3], id)
  if stored then
    local sep = string.find(stored, '|', 1, true)
    local lane = tonumber(string.sub(stored, 1, sep - 1))
    redis.call('XADD', KEYS[3 + lane], '*', 'm', string.sub(stored, sep + 1))
    redis.call('HDEL', KEYS[3], id)
  end
  redis.call('ZREM', KEYS[2], id)
end
return moved + #legacy
