import type { Redis } from 'ioredis';

/**
 * Hands connection errors of `redis` to `report`, at most one per `everyMs` (default
 * 10 000). Without a listener ioredis prints every reconnect attempt to stderr; with
 * Redis down that is several lines a second per connection.
 */
export function reportRedisErrors(redis: Redis, report: (error: Error) => void, everyMs = 10_000): void {
  let last = 0;
  redis.on('error', (error: Error) => {
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    report(error);
  });
}
