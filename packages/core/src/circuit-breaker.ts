/**
 * A circuit breaker per provider, as pure functions over a plain state, so the
 * dispatcher keeps one per provider in memory and tests need no clock.
 *
 *   closed ──(failureThreshold consecutive failures)──► open
 *   open ──(openMs passed; recordSend of the probe)──► half-open
 *   half-open ──(probe succeeds)──► closed
 *   half-open ──(probe fails)──► open again for openMs
 *
 * All times are ms since the epoch (`Date.now()`).
 */
export type CircuitState =
  | { readonly status: 'closed'; readonly consecutiveFailures: number }
  | { readonly status: 'open'; readonly openUntil: number }
  | { readonly status: 'half-open'; readonly probeDeadline: number };

export type CircuitStatus = CircuitState['status'];

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  readonly failureThreshold?: number;
  /**
   * How long an open circuit refuses sends before letting one probe through, in ms;
   * also how long a probe may stay unanswered before another is allowed. Default 30 000.
   */
  readonly openMs?: number;
}

export const DEFAULT_CIRCUIT_BREAKER_OPTIONS: Required<CircuitBreakerOptions> = Object.freeze({
  failureThreshold: 5,
  openMs: 30_000,
});

export const CLOSED_CIRCUIT: CircuitState = Object.freeze({
  status: 'closed',
  consecutiveFailures: 0,
});

/**
 * Whether a request may go to the provider now. Closed: yes. Open: no, until `openMs`
 * has passed, then yes for one probe, which the caller announces with recordSend.
 * Half-open: no while the probe is out (or until it is overdue).
 */
export function canSend(state: CircuitState, now: number): boolean {
  switch (state.status) {
    case 'closed':
      return true;
    case 'open':
      return now >= state.openUntil;
    case 'half-open':
      return now >= state.probeDeadline;
  }
}

/**
 * The status as an operator would read it: an open circuit whose time is up already
 * counts as half-open (the next send is a probe).
 */
export function circuitStatus(state: CircuitState, now: number): CircuitStatus {
  return state.status === 'open' && now >= state.openUntil ? 'half-open' : state.status;
}

/**
 * Call right before a request that canSend allowed. Past an open circuit's time this
 * marks the request as the one probe, so concurrent batches do not all pile onto a
 * provider that may still be down; otherwise the state is unchanged.
 */
export function recordSend(
  state: CircuitState,
  now: number,
  options: CircuitBreakerOptions = {},
): CircuitState {
  if (state.status === 'closed' || !canSend(state, now)) return state;
  return { status: 'half-open', probeDeadline: now + openMsOf(options) };
}

/**
 * A request succeeded: closes a half-open circuit (the probe worked) and resets the
 * failure count of a closed one. While an open circuit's time is not up, a success is
 * an answer to a request sent before it opened and says nothing about now, so it is
 * ignored.
 */
export function recordSuccess(state: CircuitState, now: number): CircuitState {
  if (state.status === 'open' && now < state.openUntil) return state;
  if (state.status === 'closed' && state.consecutiveFailures === 0) return state;
  return CLOSED_CIRCUIT;
}

/**
 * A request failed in a way that says the provider is unhealthy (timeouts, 5xx,
 * connection errors; not a rejection of one message). Opens the circuit after
 * `failureThreshold` consecutive failures, and again at once when a probe fails.
 */
export function recordFailure(
  state: CircuitState,
  now: number,
  options: CircuitBreakerOptions = {},
): CircuitState {
  const openMs = openMsOf(options);
  switch (state.status) {
    case 'closed': {
      const failures = state.consecutiveFailures + 1;
      const threshold =
        options.failureThreshold ?? DEFAULT_CIRCUIT_BREAKER_OPTIONS.failureThreshold;
      return failures >= threshold
        ? { status: 'open', openUntil: now + openMs }
        : { status: 'closed', consecutiveFailures: failures };
    }
    case 'half-open':
      return { status: 'open', openUntil: now + openMs };
    case 'open':
      // Before its time is up, a failure answers a request sent before the circuit
      // opened: nothing new. After, it is a failed probe: open again.
      return now < state.openUntil ? state : { status: 'open', openUntil: now + openMs };
  }
}

function openMsOf(options: CircuitBreakerOptions): number {
  return options.openMs ?? DEFAULT_CIRCUIT_BREAKER_OPTIONS.openMs;
}
