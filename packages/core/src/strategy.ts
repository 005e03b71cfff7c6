import { createAjv, toFieldProblems } from './ajv.ts';
import { capKey, contactPolicyProblems, contactPolicySchema, type ContactPolicy, type FrequencyCap } from './contact-policy.ts';
import { ValidationError, type FieldProblem } from './errors.ts';
import { PRIORITIES, type Priority } from './lanes.ts';
import { CHANNELS, STRATEGY_NAME_PATTERN, messageContentSchema, type Channel, type MessageRequest } from './message-schema.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
import { ROUTE_MODES, type LeafRoute, type Route } from './route.ts';
import { isKnownTimeZone, type SendWindow } from './send-window.ts';

/**
 * A communication strategy: a tenant's named policy for how a message is sent. Stored
 * versioned (packages/config); a message names it or gets its channel's default.
 */
export interface Strategy {
  readonly name: string;
  readonly channel: Channel;
  /** Tried in order; a cascade (push, then SMS if not delivered) is more than one step. */
  readonly steps: readonly StrategyStep[];
  /** Frequency caps and who passes the stop list; absent: no caps, `critical` exempt. */
  readonly contact_policy?: ContactPolicy;
}

export interface StrategyStep {
  /** The channel this step sends on; absent: the strategy's. Picks `content_by_channel`. */
  readonly channel?: Channel;
  /** The lane a message moving on to this step goes to; absent: the message's own priority. */
  readonly priority?: Priority;
  /** Fields laid over the message's content for this step (e.g. a template of its own). */
  readonly content?: MessageRequest['content'];
  /** When a message moves on to the next step; absent: never. */
  readonly next?: StepAdvance;
  /**
   * Frequency caps of this step only (e.g. the SMS step of a cascade), counted besides
   * the strategy's own on the step's channel; the strategy's `exempt_priorities` apply.
   */
  readonly contact_policy?: StepContactPolicy;
  readonly route: Route;
  /** Absent: send at any time. */
  readonly window?: SendWindow;
  /** How long after acceptance a message may still be sent, in seconds; absent: no limit. */
  readonly ttl_seconds?: number;
  /** Absent: DEFAULT_RETRY_POLICY. Missing fields are filled from it. */
  readonly retry?: StrategyRetry;
}

/**
 * When a cascade moves on from a step. `failure`: its attempts ran out, its provider
 * refused the message, or a receipt said undelivered. `no_receipt`: all of that, and
 * also no `delivered` receipt within `within_seconds` of `sent`.
 */
export type StepAdvance =
  | { readonly on: 'failure' }
  | { readonly on: 'no_receipt'; readonly within_seconds: number };

/** A step's own contact policy: caps only (who is exempt is the strategy's to say). */
export interface StepContactPolicy {
  readonly caps: readonly FrequencyCap[];
}

/** Most steps a strategy may have. */
export const MAX_STRATEGY_STEPS = 10;

/** RetryPolicy as it is written in a strategy document (snake_case, like the rest of the API). */
export interface StrategyRetry {
  readonly max_attempts: number;
  readonly base_delay_ms: number;
  readonly max_delay_ms: number;
}

const NAME_PATTERN = STRATEGY_NAME_PATTERN;
const CLOCK_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
const providerId = { type: 'string', minLength: 1, maxLength: 100, pattern: NAME_PATTERN } as const;
const COUNTRY_PATTERN = '^[A-Z]{2}$';
const PREFIX_PATTERN = '^\\+[0-9]{1,15}$';

const providerList = {
  type: 'array',
  minItems: 1,
  maxItems: 20,
  uniqueItems: true,
  items: providerId,
} as const;

const failoverRoute = {
  additionalProperties: false,
  required: ['mode', 'providers'],
  properties: { mode: { const: 'failover' }, providers: providerList },
} as const;

const weightedRoute = {
  additionalProperties: false,
  required: ['mode', 'providers'],
  properties: {
    mode: { const: 'weighted' },
    providers: {
      type: 'array',
      minItems: 1,
      maxItems: 20,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'weight'],
        properties: {
          id: providerId,
          weight: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 },
        },
      },
    },
  },
} as const;

const leastCostRoute = {
  additionalProperties: false,
  required: ['mode', 'providers'],
  properties: {
    mode: { const: 'least_cost', description: 'cheapest provider for the recipient country first (provider price tables)' },
    providers: providerList,
  },
} as const;

/** A route that names providers itself: what a rule leads to. */
const leafRoute = {
  type: 'object',
  required: ['mode'],
  // The discriminator makes Ajv report the errors of the named mode only.
  discriminator: { propertyName: 'mode' },
  oneOf: [failoverRoute, weightedRoute, leastCostRoute],
} as const;

const rulesRoute = {
  additionalProperties: false,
  required: ['mode', 'rules', 'otherwise'],
  properties: {
    mode: { const: 'rules', description: 'the route of the first rule the recipient matches, else otherwise' },
    rules: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match', 'route'],
        properties: {
          match: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              countries: {
                type: 'array',
                minItems: 1,
                maxItems: 300,
                uniqueItems: true,
                items: { type: 'string', pattern: COUNTRY_PATTERN },
                description: 'ISO 3166-1 alpha-2 countries of the recipient number',
              },
              prefixes: {
                type: 'array',
                minItems: 1,
                maxItems: 1000,
                uniqueItems: true,
                items: { type: 'string', pattern: PREFIX_PATTERN },
                description: 'E.164 number prefixes, e.g. "+4915"',
              },
            },
          },
          route: leafRoute,
        },
      },
    },
    otherwise: leafRoute,
  },
} as const;

/**
 * The JSON Schema of a strategy document: the one source for validation here and for
 * the admin API's OpenAPI. Field names are public API: extend, never rename.
 */
export const strategySchema = {
  $id: 'https://commstrat.dev/schemas/strategy.json',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'channel', 'steps'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100, pattern: NAME_PATTERN },
    channel: { type: 'string', enum: CHANNELS },
    contact_policy: contactPolicySchema,
    steps: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_STRATEGY_STEPS,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['route'],
        properties: {
          channel: { type: 'string', enum: CHANNELS, description: "the step's channel; default: the strategy's" },
          priority: { type: 'string', enum: PRIORITIES, description: 'lane of a message moving on to this step' },
          content: { ...messageContentSchema, description: "laid over the message's content for this step" },
          next: {
            type: 'object',
            required: ['on'],
            discriminator: { propertyName: 'on' },
            oneOf: [
              { additionalProperties: false, required: ['on'], properties: { on: { const: 'failure' } } },
              {
                additionalProperties: false,
                required: ['on', 'within_seconds'],
                properties: {
                  on: { const: 'no_receipt' },
                  // A day at most: the timer waits in the delayed set that long.
                  within_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
                },
              },
            ],
          },
          contact_policy: {
            type: 'object',
            additionalProperties: false,
            required: ['caps'],
            properties: { caps: contactPolicySchema.properties.caps },
            description: "frequency caps of this step only, besides the strategy's",
          },
          route: {
            type: 'object',
            required: ['mode'],
            discriminator: { propertyName: 'mode' },
            oneOf: [failoverRoute, weightedRoute, leastCostRoute, rulesRoute],
          },
          window: {
            type: 'object',
            additionalProperties: false,
            required: ['start', 'end'],
            properties: {
              start: { type: 'string', pattern: CLOCK_PATTERN, description: 'local time HH:MM' },
              end: {
                type: 'string',
                pattern: CLOCK_PATTERN,
                description: 'local time HH:MM, exclusive',
              },
              days: {
                type: 'array',
                minItems: 1,
                maxItems: 7,
                uniqueItems: true,
                items: { type: 'integer', minimum: 1, maximum: 7 },
                description: 'ISO weekdays, 1 = Monday',
              },
              time_zone: {
                type: 'string',
                minLength: 1,
                maxLength: 64,
                description: 'IANA time zone',
              },
            },
          },
          // Capped at 30 days, so no message can wait in the delayed set for ever.
          ttl_seconds: { type: 'integer', minimum: 1, maximum: 2_592_000 },
          retry: {
            type: 'object',
            additionalProperties: false,
            properties: {
              max_attempts: {
                type: 'integer',
                minimum: 1,
                maximum: 100,
                default: DEFAULT_RETRY_POLICY.maxAttempts,
              },
              base_delay_ms: {
                type: 'integer',
                minimum: 1,
                maximum: 86_400_000,
                default: DEFAULT_RETRY_POLICY.baseDelayMs,
              },
              max_delay_ms: {
                type: 'integer',
                minimum: 1,
                maximum: 86_400_000,
                default: DEFAULT_RETRY_POLICY.maxDelayMs,
              },
            },
          },
        },
      },
    },
  },
} as const;

const validateSchema = createAjv({ discriminator: true }).compile<Strategy>(strategySchema);

/**
 * Checks a strategy document against its schema and the rules a schema cannot say (a
 * known time zone, unique provider ids, base delay not above max delay). Fills in retry
 * defaults. Throws ValidationError with every problem found, each with its JSON-pointer
 * path (e.g. `/steps/0/route/providers/1/id`). Does not check that providers exist: that
 * needs the tenant's configuration (packages/config does it on save).
 */
export function validateStrategy(input: unknown): Strategy {
  if (!validateSchema(input)) throw new ValidationError(schemaProblems());
  const problems: FieldProblem[] =
    input.contact_policy === undefined ? [] : contactPolicyProblems(input.contact_policy, '/contact_policy');
  input.steps.forEach((step, index) => {
    const at = `/steps/${index}`;
    const zone = step.window?.time_zone;
    if (zone !== undefined && !isKnownTimeZone(zone)) {
      problems.push({
        path: `${at}/window/time_zone`,
        message: `is not a known IANA time zone: ${zone}`,
      });
    }
    const leaves: [string, LeafRoute][] =
      step.route.mode === 'rules'
        ? [
            ...step.route.rules.map((rule, r): [string, LeafRoute] => [`${at}/route/rules/${r}/route`, rule.route]),
            [`${at}/route/otherwise`, step.route.otherwise],
          ]
        : [[`${at}/route`, step.route]];
    for (const [path, route] of leaves) {
      if (route.mode !== 'weighted') continue;
      const seen = new Set<string>();
      route.providers.forEach((provider, i) => {
        if (seen.has(provider.id)) problems.push({ path: `${path}/providers/${i}/id`, message: 'is listed twice' });
        seen.add(provider.id);
      });
    }
    if (step.next !== undefined && index === input.steps.length - 1) {
      problems.push({ path: `${at}/next`, message: 'the last step has no step to move on to' });
    }
    if (step.contact_policy !== undefined) problems.push(...stepCapProblems(input, index));
    if (index === 0 && step.channel !== undefined && step.channel !== input.channel) {
      problems.push({ path: `${at}/channel`, message: `the first step sends on the strategy's channel (${input.channel})` });
    }
    if (step.retry !== undefined && step.retry.base_delay_ms > step.retry.max_delay_ms) {
      problems.push({ path: `${at}/retry/base_delay_ms`, message: 'must not exceed max_delay_ms' });
    }
  });
  if (problems.length > 0) throw new ValidationError(problems);
  return input;
}

/**
 * A step's caps: the problems of any cap list (two counting the same thing), a cap the
 * strategy already has, and a cap on a channel the step does not send on (it would never
 * count anything).
 */
function stepCapProblems(strategy: Strategy, index: number): FieldProblem[] {
  const step = strategy.steps[index];
  const at = `/steps/${index}/contact_policy`;
  if (step?.contact_policy === undefined) return [];
  const problems = contactPolicyProblems(step.contact_policy, at);
  const channel = step.channel ?? strategy.channel;
  const strategyCaps = new Set((strategy.contact_policy?.caps ?? []).map((cap: FrequencyCap) => capKey(cap)));
  step.contact_policy.caps.forEach((cap, i) => {
    if (cap.channel !== undefined && cap.channel !== channel) {
      problems.push({ path: `${at}/caps/${i}/channel`, message: `the step sends on ${channel}, so a cap on ${cap.channel} never counts` });
    }
    if (strategyCaps.has(capKey(cap))) {
      problems.push({ path: `${at}/caps/${i}`, message: "counts the same category, channel and window as a cap of the strategy's contact_policy" });
    }
  });
  return problems;
}

/** The retry policy of a step, in the form retryDelayMs takes. */
export function stepRetryPolicy(step: StrategyStep): RetryPolicy {
  if (step.retry === undefined) return DEFAULT_RETRY_POLICY;
  return {
    maxAttempts: step.retry.max_attempts,
    baseDelayMs: step.retry.base_delay_ms,
    maxDelayMs: step.retry.max_delay_ms,
  };
}

// Ajv's "must match pattern ^...$" helps nobody who writes a strategy by hand.
const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [NAME_PATTERN]:
    'must start with a letter or digit and hold only letters, digits, ".", "_" and "-"',
  [CLOCK_PATTERN]: 'must be a local time "HH:MM" (00:00-23:59)',
  [COUNTRY_PATTERN]: 'must be an ISO 3166-1 alpha-2 country code in capitals, e.g. "DE"',
  [PREFIX_PATTERN]: 'must be an E.164 prefix: "+" and 1-15 digits, e.g. "+4915"',
};

function schemaProblems(): FieldProblem[] {
  const errors = validateSchema.errors ?? [];
  const problems = toFieldProblems(
    errors
      .filter((error) => error.keyword !== 'discriminator')
      .map((error) => {
        const message =
          error.keyword === 'pattern'
            ? PATTERN_MESSAGES[String(error.params['pattern'])]
            : undefined;
        return message === undefined ? error : { ...error, message };
      }),
  );
  // Ajv reports a missing or unknown mode on the route object; name the mode field, unless
  // a "required" problem already does.
  for (const error of errors) {
    if (error.keyword !== 'discriminator') continue;
    if (/\/steps\/\d+\/next$/.test(error.instancePath)) {
      const path = `${error.instancePath}/on`;
      if (!problems.some((p) => p.path === path)) problems.push({ path, message: 'must be one of: failure, no_receipt' });
      continue;
    }
    const path = `${error.instancePath}/mode`;
    if (!problems.some((p) => p.path === path)) {
      // A rule leads to a route that names providers, not to more rules.
      const modes = /\/(rules\/\d+\/route|otherwise)$/.test(error.instancePath)
        ? ROUTE_MODES.filter((mode) => mode !== 'rules')
        : ROUTE_MODES;
      problems.push({ path, message: `must be one of: ${modes.join(', ')}` });
    }
  }
  return problems;
}
