export interface RetryPolicy {
  /** Delay before the second attempt, in ms. Default 1000. */
  readonly baseDelayMs: number;
  /** Longest delay between attempts, in ms. Default 300 000. */
  readonly maxDelayMs: number;
  /** Attempts in all, the first included. Default 5. */
  readonly maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  baseDelayMs: 1000,
  maxDelayMs: 300_000,
  maxAttempts: 5,
});

/**
 * Delay before the attempt after `attempt` (1 = the first one failed): exponential
 * back-off with full jitter, never shorter than what the provider asked for.
 * `random` is injectable so the schedule is testable.
 */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy,
  providerRetryAfterMs = 0,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(ceiling / 2 + random() * (ceiling / 2));
  return Math.max(jittered, providerRetryAfterMs);
}
