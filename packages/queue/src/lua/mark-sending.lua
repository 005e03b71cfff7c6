-- Marks claimed messages as being sent, unless the tenant cancelled them first: the one
-- atomic step that decides, per message, between a cancel and a send (cancel-message.lua
-- checks the same two keys the other way round).
-- KEYS[2i-1] cancel marker of message i, KEYS[2i] its sending marker
-- ARGV[1] sending marker lifetime in seconds
-- Returns the positions (1-based) of the messages that were cancelled and not marked.
local cancelled = {}
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS / 2 do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then
    cancelled[#cancelled + 1] = i
  else
    redis.call('SET', KEYS[2 * i], '1', 'EX', ttl)
  end
end
return cancelled
