// What the dispatcher does with a message, as functions of plain data: for a claimed
// message on its step (send to a provider, wait, expire, fail), and for a provider's
// answer (sent, retry, move on, fail). The dispatcher gathers the data (routing snapshot,
// provider availability and health, the clock), calls these, and carries out the verdict
// in its journal and Redis writes; it decides nothing itself.
import { advanceReason, currentStepIndex, nextStepIndex, stepChannel } from './cascade.ts';
import { applicableCaps, contactAddress, screenRecipient, type ContactAddress, type FrequencyCap } from './contact-policy.ts';
import type { ErrorCode } from './errors.ts';
import type { Channel } from './message-schema.ts';
import type { MessageStatus, QueuedMessage } from './message.ts';
import { phoneCountry } from './phone.ts';
import { needsPreferenceCheck, screenPreferences } from './preferences.ts';
import { allowedFrom } from './status-transitions.ts';
import { retryDelayMs } from './retry.ts';
import { chooseProvider, routeProviders, type PriceTable } from './route.ts';
import { isInsideWindow, nextWindowOpening } from './send-window.ts';
import { stepRetryPolicy, type Strategy, type StrategyStep } from './strategy.ts';

/** Why a message waits in the delayed set; the `reason` label of commstrat_dispatch_deferred_total. */
export type DeferCause = 'window' | 'retry' | 'no_provider' | 'config_unavailable' | 'frequency_cap' | 'preferences_unavailable';

/** Why a message was not sent to its recipient: the tenant's stop list, or the recipient's own preference. */
export type SuppressCause = 'stop_list' | 'preference';

/** What is to become of one message. */
export type Verdict =
  /** Hand it to `provider` now; `failover`: with every provider up the choice would be another. */
  | { readonly kind: 'send'; readonly provider: string; readonly failover: boolean }
  /** The provider took it. */
  | { readonly kind: 'sent' }
  /**
   * Back to the delayed set until `until` (status `scheduled`). `attempts` is set when the
   * wait follows a failed attempt (a retry): the message carries that count from then on.
   */
  | { readonly kind: 'defer'; readonly cause: DeferCause; readonly until: number; readonly reason: string; readonly attempts?: number }
  | { readonly kind: 'expire'; readonly reason: string }
  /**
   * The cascade moves on to step `step` (a `next_step` event with `reason`); `suppressed`
   * when it moves on because the recipient opted out of this step's channel.
   */
  | { readonly kind: 'next_step'; readonly step: number; readonly reason: string; readonly suppressed?: SuppressCause }
  /** Ends `suppressed`: the recipient opted out (`cause` says how); not a failure. */
  | { readonly kind: 'suppress'; readonly reason: string; readonly cause: SuppressCause }
  /**
   * Ends `failed`. `deadLetter` is set when its attempts ran out: it goes to the
   * dead-letter stream with the code and provider key a replay filters on.
   */
  | { readonly kind: 'fail'; readonly reason: string; readonly deadLetter?: DeadLetterNote };

export interface DeadLetterNote {
  readonly code: ErrorCode;
  /** The provider key it last failed at; absent when none was available. */
  readonly provider?: string;
  readonly attempts: number;
}

/** One provider of a step's route as this replica sees it now; absent from the map: not configured. */
export interface ProviderView {
  /** Enabled and its circuit lets a request through. */
  readonly available: boolean;
  /** providerHealthWeight, in [0, 1]. */
  readonly health: number;
  readonly prices?: PriceTable | undefined;
}

/** What decideClaimed needs to know about a claimed message. */
export interface ClaimedInput {
  readonly message: QueuedMessage;
  /** The strategy version the message is routed by (pinned). */
  readonly strategy: Strategy;
  readonly tenantTimeZone: string;
  /** The tenant's stop list, as stopListKey strings. */
  readonly stopList: ReadonlySet<string>;
  /** The recipient's preferences, as looked up for the claimed batch; absent: none are kept. */
  readonly preferences?: PreferenceView;
  /** Every provider of the step's route (stepProviders) that is configured. */
  readonly providers: ReadonlyMap<string, ProviderView>;
  readonly now: number;
  readonly random: () => number;
}

/** The recipients' preferences of a claimed batch as decideClaimed reads them. */
export interface PreferenceView {
  /** The tenant's categories no opt-out holds back. */
  readonly exemptCategories: ReadonlySet<string>;
  /**
   * The optOutKey strings held for an address (undefined: none), or null when the
   * preference store could not be read for it.
   */
  optedOut(address: ContactAddress): ReadonlySet<string> | undefined | null;
}

/** The step a claimed message is sent by, or undefined when its strategy has no such step. */
export function claimedStep(message: Pick<QueuedMessage, 'step'>, strategy: Strategy): StrategyStep | undefined {
  return strategy.steps[currentStepIndex(message)];
}

/** The providers decideClaimed asks about: those of the message's step's route. */
export function stepProviders(step: StrategyStep): string[] {
  return routeProviders(step.route);
}

/** When a message expires (ms): its own `expires_at`, else its step's TTL from acceptance; undefined: never. */
export function expiryOf(message: Pick<QueuedMessage, 'expires_at' | 'created_at'>, ttlSeconds: number | undefined): number | undefined {
  if (message.expires_at !== undefined) return Date.parse(message.expires_at);
  if (ttlSeconds !== undefined && message.created_at !== undefined) return Date.parse(message.created_at) + ttlSeconds * 1000;
  return undefined;
}

/**
 * What to do now with a claimed message on its step, in this order: a step that does
 * not exist fails it; past its expiry (or a window that opens only after it) it
 * expires; outside its send window it waits for the opening; a recipient on the stop
 * list, or one who opted out of the step's channel (and the message's category), is
 * not sent to: the cascade moves on to its next step when the step has one, else the
 * message ends `suppressed`; else the route chooses a provider, and with none available
 * the attempt counts as failed (retry, next step or dead letter). Frequency caps and the
 * provider's rate are not decided here: they are checked right before the request.
 */
export function decideClaimed(input: ClaimedInput): Verdict {
  const { message, strategy, now } = input;
  const index = currentStepIndex(message);
  const step = strategy.steps[index];
  if (step === undefined) return { kind: 'fail', reason: `cannot route: strategy "${strategy.name}" has no step ${index}` };
  const onTime = timeVerdict({ message, step, tenantTimeZone: input.tenantTimeZone, now, waited: false });
  if (onTime !== undefined) return onTime;
  const channel = stepChannel(strategy, index);
  const screen = screenRecipient({
    policy: strategy.contact_policy,
    priority: message.priority,
    channel,
    recipient: message.recipient,
    stopped: (key) => input.stopList.has(key),
  });
  if (screen.kind === 'fail') return afterSuppression(message, strategy, screen.reason, 'stop_list');
  const preferences = input.preferences;
  const address = preferences === undefined ? undefined : contactAddress(channel, message.recipient);
  if (preferences !== undefined && address !== undefined && needsPreferenceCheck(message.category, preferences.exemptCategories)) {
    const optedOut = preferences.optedOut(address);
    // Not sent unchecked: an opt-out is a promise to the recipient, and the message can wait a few seconds.
    if (optedOut === null) return storeOutageVerdict('preferences_unavailable', now, input.random);
    const verdict = screenPreferences({ channel, category: message.category, optedOut, exemptCategories: preferences.exemptCategories });
    if (verdict.kind === 'suppress') return afterSuppression(message, strategy, verdict.reason, 'preference');
  }
  const unavailable = new Set<string>();
  const health = new Map<string, number>();
  const prices = new Map<string, PriceTable>();
  for (const id of routeProviders(step.route)) {
    const view = input.providers.get(id);
    if (view === undefined || !view.available) {
      unavailable.add(id);
      continue;
    }
    health.set(id, view.health);
    if (view.prices !== undefined) prices.set(id, view.prices);
  }
  const phone = message.recipient.phone;
  // The country costs a libphonenumber parse: only for the routes that look at it.
  const needsCountry = step.route.mode === 'rules' || step.route.mode === 'least_cost';
  const recipient = { phone, country: needsCountry && phone !== undefined ? phoneCountry(phone) : undefined };
  const context = { unavailable, random: input.random, key: phone ?? message.id, recipient, prices, health };
  const chosen = chooseProvider(step.route, context);
  if (chosen === undefined) {
    return afterFailedAttempt({ message, strategy, step, now, random: input.random, reason: 'no provider of the route is available', cause: 'no_provider' });
  }
  // A failover: the provider the same choice makes with every provider up is down.
  const failover = unavailable.size > 0 && chosen !== chooseProvider(step.route, { ...context, unavailable: new Set(), health: undefined });
  return { kind: 'send', provider: chosen, failover };
}

/**
 * The channel a message goes out on at its current step, and the frequency caps it
 * counts against there: the strategy's caps for that channel, then the step's own. None
 * when its priority is exempt or it has no category.
 */
export function stepCaps(
  strategy: Strategy,
  message: Pick<QueuedMessage, 'step' | 'priority' | 'category'>,
): { readonly channel: Channel; readonly caps: FrequencyCap[] } {
  const index = currentStepIndex(message);
  const channel = stepChannel(strategy, index);
  const own = strategy.steps[index]?.contact_policy?.caps;
  const policy = strategy.contact_policy;
  const caps = applicableCaps(policy, message, channel);
  if (own === undefined) return { channel, caps };
  // The step's caps with the strategy's exemptions (applicableCaps reads both from one policy).
  const withOwn = applicableCaps({ ...policy, caps: own }, message, channel);
  return { channel, caps: [...caps, ...withOwn] };
}

/**
 * The step's time rules, when a message is planned and again right before it is sent
 * (`waited`): undefined when it may go now, else expire or wait for the window.
 */
export function timeVerdict(input: {
  readonly message: Pick<QueuedMessage, 'expires_at' | 'created_at' | 'recipient'>;
  readonly step: Pick<StrategyStep, 'window' | 'ttl_seconds'>;
  readonly tenantTimeZone: string;
  readonly now: number;
  readonly waited: boolean;
  /** The expiry when already computed (expiryOf); else computed here. */
  readonly expiresAt?: number | undefined;
}): Extract<Verdict, { kind: 'expire' | 'defer' }> | undefined {
  const { message, step, now, waited } = input;
  const expiresAt = 'expiresAt' in input ? input.expiresAt : expiryOf(message, step.ttl_seconds);
  if (expiresAt !== undefined && expiresAt <= now) {
    return { kind: 'expire', reason: waited ? 'expired while waiting to be sent' : 'expired before it could be sent' };
  }
  if (step.window === undefined) return undefined;
  const zones = [message.recipient.time_zone, input.tenantTimeZone] as const;
  if (isInsideWindow(step.window, new Date(now), ...zones)) return undefined;
  const opening = nextWindowOpening(step.window, new Date(now), ...zones).getTime();
  if (expiresAt !== undefined && opening >= expiresAt) return { kind: 'expire', reason: 'expires before its send window opens' };
  const why = waited ? 'send window closed while waiting' : 'outside the send window';
  return { kind: 'defer', cause: 'window', until: opening, reason: `${why}; opens ${new Date(opening).toISOString()}` };
}

/**
 * An attempt that failed and may be tried again (the provider was down, none was
 * available, routing failed unexpectedly): another attempt after back-off with jitter,
 * or, attempts spent, the next step when the step says so, else the dead-letter stream.
 * `strategy` undefined (it could not be read): no next step.
 */
export function afterFailedAttempt(input: {
  readonly message: Pick<QueuedMessage, 'attempts' | 'step'>;
  readonly strategy: Strategy | undefined;
  readonly step: StrategyStep;
  readonly now: number;
  readonly random: () => number;
  readonly reason: string;
  /** `no_provider`: none of the route was available; `retry`: the attempt itself failed. */
  readonly cause: 'retry' | 'no_provider';
  /** At least this long before the next attempt (the provider's Retry-After), ms. */
  readonly retryAfterMs?: number;
  readonly code?: ErrorCode;
  /** The provider key the attempt failed at; absent: none was available. */
  readonly provider?: string | undefined;
}): Verdict {
  const policy = stepRetryPolicy(input.step);
  const attempts = (input.message.attempts ?? 0) + 1;
  if (attempts >= policy.maxAttempts) {
    const reason = `gave up after ${attempts} attempts: ${input.reason}`;
    const moved = afterStepFailure(input.message, input.strategy, reason);
    if (moved.kind === 'next_step') return moved;
    const provider = input.provider === undefined ? {} : { provider: input.provider };
    return { kind: 'fail', reason, deadLetter: { code: input.code ?? 'provider_unavailable', attempts, ...provider } };
  }
  const until = input.now + retryDelayMs(attempts, policy, input.retryAfterMs ?? 0, input.random);
  // The due time differs per message (jitter) and stays out of the reason, so a failed
  // batch is one journal write.
  return { kind: 'defer', cause: input.cause, until, reason: `attempt ${attempts + 1} after back-off: ${input.reason}`, attempts };
}

/**
 * A step that failed for good (attempts spent, provider refused): the next step when the
 * step's `next` says so, else `failed` with `reason`.
 */
export function afterStepFailure(
  message: Pick<QueuedMessage, 'step'>,
  strategy: Strategy | undefined,
  reason: string,
): Extract<Verdict, { kind: 'next_step' | 'fail' }> {
  const index = currentStepIndex(message);
  const next = strategy === undefined ? undefined : nextStepIndex(strategy, index, 'failure');
  if (strategy === undefined || next === undefined) return { kind: 'fail', reason };
  return { kind: 'next_step', step: next, reason: advanceReason('failure', strategy.steps[index], reason) };
}

/**
 * A step whose recipient opted out of its channel: the next step when the step has a
 * `next` (a cascade reaches the recipient on another channel), else `suppressed`.
 */
export function afterSuppression(
  message: Pick<QueuedMessage, 'step'>,
  strategy: Strategy,
  reason: string,
  cause: SuppressCause,
): Extract<Verdict, { kind: 'next_step' | 'suppress' }> {
  const index = currentStepIndex(message);
  const next = nextStepIndex(strategy, index, 'failure');
  if (next === undefined) return { kind: 'suppress', reason, cause };
  return { kind: 'next_step', step: next, reason: `${reason}; moving on`, suppressed: cause };
}

/**
 * How long to wait for the configuration store (or the frequency-cap or preference store) before a
 * message is tried again, without spending an attempt: 2 s plus up to 2 s of jitter, so
 * messages due together do not all come back in the same instant.
 */
export function storeOutageVerdict(
  cause: 'config_unavailable' | 'frequency_cap' | 'preferences_unavailable',
  now: number,
  random: () => number,
): Extract<Verdict, { kind: 'defer' }> {
  const until = now + STORE_RETRY_MS + Math.floor(random() * STORE_RETRY_MS);
  const store = STORES[cause];
  return { kind: 'defer', cause, until, reason: `waiting for ${store}; will retry` };
}

const STORE_RETRY_MS = 2000;

const STORES = {
  config_unavailable: 'the configuration store',
  frequency_cap: 'the frequency-cap store',
  preferences_unavailable: 'the preference store',
} as const;

/** What a provider answered for a batch: an error for the whole request, else one outcome per message. */
export interface ProviderAnswer {
  readonly error?: {
    readonly retryable: boolean;
    readonly message: string;
    readonly code: ErrorCode;
    readonly retryAfterSeconds?: number | undefined;
  } | undefined;
  readonly outcomes: readonly (
    | { readonly messageId: string; readonly outcome: 'accepted' }
    | { readonly messageId: string; readonly outcome: 'rejected'; readonly reason: string }
  )[];
}

/** A message of a batch, with the strategy and step it was sent by. */
export interface AnsweredMessage {
  readonly message: Pick<QueuedMessage, 'id' | 'attempts' | 'step'>;
  readonly strategy: Strategy;
  readonly step: StrategyStep;
}

/**
 * The verdict per message on a provider's answer, in the order the answer names them
 * (a message the answer does not name gets none and stays claimed, to be reclaimed).
 * Accepted: sent. Refused by the provider: it fails for good (or moves on). The whole
 * request failed: retryable errors (timeouts, 5xx, 429) count as a failed attempt at
 * this provider, retried after back-off (and routed again then, when the circuit or
 * health may send it elsewhere); permanent ones fail it (or move on).
 */
export function verdictsFor(input: {
  readonly answer: ProviderAnswer;
  readonly messages: readonly AnsweredMessage[];
  /** The provider's id as the tenant configured it, for reasons. */
  readonly providerId: string;
  /** The provider's key (`tenant/provider`), for dead letters. */
  readonly providerKey: string;
  readonly now: number;
  readonly random: () => number;
}): { readonly messageId: string; readonly verdict: Verdict }[] {
  const { answer, now } = input;
  const error = answer.error;
  if (error === undefined) {
    const byId = new Map(input.messages.map((m) => [m.message.id, m]));
    return answer.outcomes.flatMap((item): { messageId: string; verdict: Verdict }[] => {
      const sent = byId.get(item.messageId);
      if (sent === undefined) return [];
      if (item.outcome === 'accepted') return [{ messageId: item.messageId, verdict: { kind: 'sent' } }];
      const reason = `provider ${input.providerId} rejected it: ${item.reason}`;
      return [{ messageId: item.messageId, verdict: afterStepFailure(sent.message, sent.strategy, reason) }];
    });
  }
  return input.messages.map(({ message, strategy, step }) => {
    if (!error.retryable) return { messageId: message.id, verdict: afterStepFailure(message, strategy, error.message) };
    const verdict = afterFailedAttempt({
      message,
      strategy,
      step,
      now,
      random: input.random,
      reason: error.message,
      cause: 'retry',
      retryAfterMs: (error.retryAfterSeconds ?? 0) * 1000,
      code: error.code,
      provider: input.providerKey,
    });
    return { messageId: message.id, verdict };
  });
}

/**
 * What becomes of an entry reclaimed from a replica that stalled or died, by its
 * message's status in the journal (undefined: not found, or the journal not read):
 * - `again`: plan it like a new claim (at least once);
 * - `drop`: the journal shows it ended (or cancelled, delivered…): acknowledge it, as
 *   sending it again would only make a duplicate;
 * - `as_timer`: the journal shows it `sent` but the entry was never acknowledged, so the
 *   receipt timer of its step was never parked: it goes on as that timer, which moves it
 *   on in due time if its step waits for a receipt and is dropped otherwise.
 * A cascade timer always goes again: it reads the journal itself.
 */
export type ReclaimVerdict = 'again' | 'drop' | 'as_timer';

export function reclaimVerdict(entry: Pick<QueuedMessage, 'receipt_timer'>, journaled: MessageStatus | undefined): ReclaimVerdict {
  if (journaled === undefined || entry.receipt_timer !== undefined) return 'again';
  if (journaled === 'sent') return 'as_timer';
  // Past the point where it could still be sent: ended, or already moved on and parked.
  return allowedFrom('sent').includes(journaled) ? 'again' : 'drop';
}

/**
 * How long a batch part the provider's rate held back waits before it asks again, ms:
 * until a useful share of it can go (up to a burst's worth), not the next single token,
 * as asking every few ms for one token would shred batches into one-message requests.
 */
export function throttleDelayMs(held: number, ratePerSecond: number, burst: number, waitMs: number): number {
  const refillMs = (Math.min(held, burst) * 1000) / ratePerSecond;
  return Math.max(1, waitMs, Math.ceil(refillMs));
}
