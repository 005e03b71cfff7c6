-- Marks claimed messages as being sent, unless the tenant cancelled them first: the one
-- atomic step that decides, per message, between a cancel and a send (cancel-message.lua
-- checks the same two hashes the other way round).
-- KEYS[1] hash of cancelled message ids, KEYS[2] hash of message ids being sent
-- ARGV[1] now in ms (the value stored), ARGV[2..] message ids
-- Returns the positions (1-based, among the ids) of the messages that were cancelled
-- and not marked.
local cancelled = {}
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    cancelled[#cancelled + 1] = i - 1
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
  end
end
return cancelled
