-- Cancels a message unless a dispatcher has already marked it as being sent.
-- KEYS[1] its sending marker, KEYS[2] its cancel marker
-- ARGV[1] cancel marker lifetime in seconds
-- Returns 1 when cancelled (or already cancelled), 0 when it is being sent.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[1]))
return 1
