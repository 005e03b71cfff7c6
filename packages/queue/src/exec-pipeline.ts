import type { Redis } from 'ioredis';

/**
 * Runs a pipeline (one round trip) and returns each command's reply, throwing the first
 * command error: ioredis reports per-command errors as values, which are easy to miss.
 */
export async function execOrThrow(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
