-- Counts one provider's delivered receipts, and the late ones, per time bucket, in one
-- hash: fields "<bucket start ms>:d" (delivered) and "<bucket start ms>:l" (late). Once
-- the hash holds more fields than a window needs, those of buckets before the window are
-- removed, so a busy provider's hash stays small; the key expires when receipts stop.
--
-- KEYS[1]  the provider's hash (QueueKeys.deliveries)
-- ARGV[1]  expiry of the key, ms
-- ARGV[2]  start of the oldest bucket still in the window, ms
-- ARGV[3]  fields above which the old ones are removed
-- ARGV[4…] triples: bucket start (ms), delivered, late
local key = KEYS[1]
for i = 4, #ARGV, 3 do
  redis.call('HINCRBY', key, ARGV[i] .. ':d', ARGV[i + 1])
  if tonumber(ARGV[i + 2]) > 0 then
    redis.call('HINCRBY', key, ARGV[i] .. ':l', ARGV[i + 2])
  end
end
if redis.call('HLEN', key) > tonumber(ARGV[3]) then
  local oldest = tonumber(ARGV[2])
  for _, field in ipairs(redis.call('HKEYS', key)) do
    local start = tonumber(string.match(field, '^(%d+):'))
    if start == nil or start < oldest then
      redis.call('HDEL', key, field)
    end
  end
end
redis.call('PEXPIRE', key, ARGV[1])
return 1
