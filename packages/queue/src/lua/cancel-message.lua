-- Cancels a message unless a dispatcher has already marked it as being sent.
-- KEYS[1] hash of message ids being sent, KEYS[2] hash of cancelled message ids
-- ARGV[1] message id, ARGV[2] now in ms (the value stored)
-- Returns 1 when cancelled (or already cancelled), 0 when it is being sent.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
