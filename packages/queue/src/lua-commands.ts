import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * Defines each Lua script of `./lua/` as a command on this connection, once (the
 * scripts are shared by every LaneQueue, IdempotencyStore and rate limiter built on it).
 * `numberOfKeys` omitted: the caller passes the key count as the first argument.
 */
export function defineLuaCommands(
  redis: Redis,
  commands: Readonly<Record<string, { readonly file: string; readonly numberOfKeys?: number }>>,
): void {
  for (const [name, { file, numberOfKeys }] of Object.entries(commands)) {
    if (name in redis) continue;
    const lua = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
  }
}
