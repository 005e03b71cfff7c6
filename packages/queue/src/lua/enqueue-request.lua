-- Appends the messages of one journaled batch to their lanes (or the delayed set) at
-- most once: a guard key per batch is set in the same atomic step, so a retry after a
-- crash, or the recovery pass racing the original intake, enqueues nothing twice.
-- Entries are in the format of entry-codec.ts; the first character is the lane digit.
-- KEYS[1] guard key of the batch, KEYS[2] delayed set, KEYS[3..] lane streams in priority order
-- ARGV[1] guard lifetime in seconds, then per message 2 values: due time in ms or '' for now, entry
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return -1
end
local count = 0
for i = 2, #ARGV, 2 do
  local due = ARGV[i]
  local entry = ARGV[i + 1]
  if due == '' then
    redis.call('XADD', KEYS[2 + tonumber(string.sub(entry, 1, 1))], '*', 'm', entry)
  else
    redis.call('ZADD', KEYS[2], tonumber(due), entry)
  end
  count = count + 1
end
return count
