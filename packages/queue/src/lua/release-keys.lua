-- Drops idempotency reservations that are still in progress. A completed key is kept:
-- a late release (after a retry completed it) must not reopen the key to duplicates.
-- KEYS[1..n] idempotency keys
-- Returns how many reservations were dropped.
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'p' then
    released = released + redis.call('DEL', key)
  end
end
return released
