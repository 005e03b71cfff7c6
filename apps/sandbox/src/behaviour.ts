/** How the sandbox behaves; changed at run time through PUT /_sandbox/behaviour. */
export interface SandboxBehaviour {
  /** Added to every answer, in ms. Default 0. */
  latency_ms: number;
  /** Share of requests answered 503, 0..1. Default 0. */
  error_rate: number;
  /** Messages accepted per second before answering 429 (0 = unlimited). Default 0. */
  rate_per_second: number;
  /** Most messages in one batch request; more answers 413. Default 1000. */
  max_batch_size: number;
  /**
   * Share of requests answered 200 with a body that is not the JSON promised (a broken
   * gateway's page), 0..1; nothing of such a request is accepted. Default 0.
   */
  malformed_rate: number;
  /**
   * Pause between the chunks of a response, in ms: the answer drips out in 16-byte
   * chunks after the messages were accepted. Default 0 (one write).
   */
  drip_ms: number;
}

export const DEFAULT_BEHAVIOUR: Readonly<SandboxBehaviour> = Object.freeze({
  latency_ms: 0,
  error_rate: 0,
  rate_per_second: 0,
  max_batch_size: 1000,
  malformed_rate: 0,
  drip_ms: 0,
});

/**
 * Per-second message budget, like an aggregator's account limit: a request that would
 * exceed this second's budget is refused whole with 429 and Retry-After.
 */
export class SecondWindowLimiter {
  private second = 0;
  private used = 0;

  /** Returns 0 when `count` messages fit now, else the seconds to wait. */
  take(count: number, ratePerSecond: number, now: number = Date.now()): number {
    if (ratePerSecond <= 0) return 0;
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.used = 0;
    }
    if (this.used + count > ratePerSecond) return 1;
    this.used += count;
    return 0;
  }
}
