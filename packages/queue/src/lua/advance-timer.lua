-- Brings a cascade timer forward: the delayed entry of message ARGV[1] due at ARGV[2]
-- gets the due time ARGV[3]. The entry is found among those due at that very
-- millisecond (the timer's due time is known to the caller: the step's wait after the
-- journaled `sent`), by the id after its lane digit (entry-codec.ts: "<lane>|<id>|...").
-- KEYS[1] delayed set, KEYS[2] the 0.1 delayed set (member = message id)
-- Returns 1 when it moved one, 0 when none was there (not yet parked, already promoted,
-- or parked at another time).
local prefix = ARGV[1] .. '|'
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
  if string.sub(entry, 3, 2 + #prefix) == prefix then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), entry)
    return 1
  end
end
return redis.call('ZADD', KEYS[2], 'XX', 'CH', tonumber(ARGV[3]), ARGV[1])
