/**
 * The one error registry. Every error the service reports has a stable `code`, the HTTP
 * status an API answers with, and whether retrying the same call may succeed.
 * Callers test errors with `instanceof` or `code`, never by message text.
 */
export const ERROR_CODES = {
  malformed_json: { httpStatus: 400, retryable: false },
  bad_request: { httpStatus: 400, retryable: false },
  invalid_encoding: { httpStatus: 400, retryable: false },
  nesting_too_deep: { httpStatus: 400, retryable: false },
  unauthorized: { httpStatus: 401, retryable: false },
  forbidden: { httpStatus: 403, retryable: false },
  csrf_failed: { httpStatus: 403, retryable: false },
  not_found: { httpStatus: 404, retryable: false },
  conflict: { httpStatus: 409, retryable: false },
  idempotency_in_progress: { httpStatus: 409, retryable: true },
  payload_too_large: { httpStatus: 413, retryable: false },
  batch_too_large: { httpStatus: 413, retryable: false },
  unsupported_media_type: { httpStatus: 415, retryable: false },
  method_not_allowed: { httpStatus: 405, retryable: false },
  validation_failed: { httpStatus: 422, retryable: false },
  invalid_phone_number: { httpStatus: 422, retryable: false },
  attachments_not_supported: { httpStatus: 422, retryable: false },
  batch_rejected: { httpStatus: 422, retryable: false },
  input_not_storable: { httpStatus: 422, retryable: false },
  template_render_failed: { httpStatus: 422, retryable: false },
  egress_refused: { httpStatus: 422, retryable: false },
  rate_limited: { httpStatus: 429, retryable: true },
  lanes_full: { httpStatus: 503, retryable: true },
  dependency_unavailable: { httpStatus: 503, retryable: true },
  invalid_config: { httpStatus: 500, retryable: false },
  provider_rejected: { httpStatus: 502, retryable: false },
  provider_unavailable: { httpStatus: 502, retryable: true },
  internal: { httpStatus: 500, retryable: false },
} as const satisfies Record<string, { httpStatus: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One problem with a piece of input: where (JSON pointer) and what. */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/** Base of every error commstrat raises on purpose. */
export class CommstratError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly problems: readonly FieldProblem[];
  /**
   * How long to wait before retrying, in seconds, when the thrower knows: what an API
   * answers as Retry-After and what a provider retry waits at least.
   */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { problems?: readonly FieldProblem[]; cause?: unknown; retryAfterSeconds?: number | undefined } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = ERROR_CODES[code].httpStatus;
    this.retryable = ERROR_CODES[code].retryable;
    this.problems = options.problems ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The JSON body an API answers with. */
  toJSON(): { error: { code: ErrorCode; message: string; problems?: readonly FieldProblem[] } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.problems.length > 0 ? { problems: this.problems } : {}),
      },
    };
  }
}

/** Thrown when input does not match its JSON Schema or a domain rule. */
export class ValidationError extends CommstratError {
  constructor(problems: readonly FieldProblem[], code: ErrorCode = 'validation_failed') {
    const first = problems[0];
    super(code, first ? `${first.path || '/'}: ${first.message}` : 'invalid input', { problems });
  }
}

/** Thrown when a request body is not parseable JSON. */
export class MalformedJsonError extends CommstratError {
  constructor(cause?: unknown) {
    super('malformed_json', 'request body is not valid JSON', { cause });
  }
}

/** Thrown when input bytes are not well-formed UTF-8, or a JSON string escapes a lone surrogate: decoding would change the text. */
export class InvalidEncodingError extends CommstratError {
  constructor(message: string, problems: readonly FieldProblem[] = []) {
    super('invalid_encoding', message, { problems });
  }
}

/** Thrown when JSON input nests objects and arrays deeper than the limit. */
export class NestingTooDeepError extends CommstratError {
  constructor(maxDepth: number) {
    super('nesting_too_deep', `JSON nests objects and arrays deeper than ${maxDepth} levels`);
  }
}

/** Thrown when a path exists but not with the request's method; `allowed` goes to the Allow header. */
export class MethodNotAllowedError extends CommstratError {
  readonly allowed: readonly string[];

  constructor(method: string, allowed: readonly string[]) {
    super('method_not_allowed', `${method} is not allowed here; allowed: ${allowed.join(', ')}`);
    this.allowed = allowed;
  }
}

/** Thrown when a request has no API key or one that matches no active key. */
export class UnauthorizedError extends CommstratError {
  constructor(message = 'missing or invalid API key: send "Authorization: Bearer <key>"') {
    super('unauthorized', message);
  }
}

/** Thrown when a valid API key lacks the scope a route needs (e.g. a tenant key on /v1/admin). */
export class ForbiddenError extends CommstratError {
  constructor(scope: string) {
    super('forbidden', `this API key lacks the "${scope}" scope`);
  }
}

/**
 * Thrown when a request that changes something in the operator console comes without
 * its session's CSRF token (the `x-csrf-token` header), with another one, or from
 * another origin.
 */
export class CsrfError extends CommstratError {
  constructor(message = 'missing or wrong CSRF token: send the session\'s csrf_token in the x-csrf-token header') {
    super('csrf_failed', message);
  }
}

/** Thrown when a resource does not exist for the calling tenant. */
export class NotFoundError extends CommstratError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

/** Thrown when a request body is larger than the configured limit. */
export class PayloadTooLargeError extends CommstratError {
  constructor(limitBytes: number) {
    super('payload_too_large', `request body exceeds ${limitBytes} bytes`);
  }
}

/** Thrown when a request body is not sent as application/json. */
export class UnsupportedMediaTypeError extends CommstratError {
  constructor(got: string | undefined) {
    super('unsupported_media_type', `Content-Type must be application/json, got ${got ?? 'none'}`);
  }
}

/** Thrown when a batch holds more items (messages, preferences) than the configured maximum; `path` names its array. */
export class BatchTooLargeError extends CommstratError {
  constructor(count: number, max: number, path = '/messages') {
    super('batch_too_large', `a batch holds at most ${max} ${path === '/messages' ? 'messages' : 'items'}, got ${count}`, {
      problems: [{ path, message: `must have at most ${max} items` }],
    });
  }
}

/** Thrown for an all-or-nothing batch with at least one bad item; nothing was accepted. */
export class BatchRejectedError extends CommstratError {
  /** The bad items, each with its index and its own error. */
  readonly items: readonly { index: number; error: ReturnType<CommstratError['toJSON']>['error'] }[];

  constructor(items: BatchRejectedError['items']) {
    super('batch_rejected', `${items.length} message(s) are invalid; atomic batch not accepted`, {
      problems: items.flatMap((item) =>
        (item.error.problems ?? []).map((p) => ({ path: `/messages/${item.index}${p.path}`, message: p.message })),
      ),
    });
    this.items = items;
  }
}

/** Thrown when a state change is not allowed from the resource's current state. */
export class ConflictError extends CommstratError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** Thrown when a caller exceeds its request rate; `retryAfterSeconds` goes to Retry-After. */
export class RateLimitedError extends CommstratError {
  declare readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super('rate_limited', message, { retryAfterSeconds });
  }
}

/** Thrown when a lane is over its configured depth: the service sheds load instead of growing Redis. */
export class LanesFullError extends CommstratError {
  declare readonly retryAfterSeconds: number;

  constructor(lanes: readonly string[], retryAfterSeconds = 1) {
    super('lanes_full', `lanes over capacity: ${lanes.join(', ')}; retry later`, { retryAfterSeconds });
  }
}

/**
 * Thrown when the journal refuses a request for what it holds (a document over the
 * store's size or nesting limit), not because the store is down: the same input would
 * be refused again, so it is the client's error, never `dependency_unavailable`.
 */
export class InputNotStorableError extends CommstratError {
  constructor(cause?: unknown) {
    super('input_not_storable', 'the request cannot be stored as sent (too large or too deeply nested once journaled)', { cause });
  }
}

/**
 * Thrown when a URL the service would call on a tenant's behalf (a callback URL, a
 * provider endpoint, a token URL) aims at an address the egress policy refuses: loopback,
 * private, link-local and other internal ranges, or a scheme other than http(s).
 * `reason` is the refused range or rule (`loopback`, `private`, `scheme`, ...); the
 * problems name the field when the URL came in through the API.
 */
export class EgressRefusedError extends CommstratError {
  readonly reason: string;

  constructor(message: string, reason: string, problems: readonly FieldProblem[] = []) {
    super('egress_refused', message, { problems });
    this.reason = reason;
  }

  /** The same refusal, said of the field at `path` (a JSON pointer into the request). */
  at(path: string): EgressRefusedError {
    return new EgressRefusedError(`${path}: ${this.message}`, this.reason, [{ path, message: this.message }]);
  }
}

/** Thrown when Redis, MongoDB, PostgreSQL or Kafka does not answer. */
export class DependencyUnavailableError extends CommstratError {
  constructor(dependency: string, cause?: unknown) {
    super('dependency_unavailable', `${dependency} is unavailable`, { cause });
  }
}

/** Thrown at start-up when configuration is missing or contradictory; names the field. */
export class ConfigError extends CommstratError {
  constructor(problems: readonly FieldProblem[]) {
    super(
      'invalid_config',
      `invalid configuration: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      { problems },
    );
  }
}

/** Thrown by a provider adapter when the provider refused the request for good. */
export class ProviderRejectedError extends CommstratError {
  constructor(message: string, cause?: unknown) {
    super('provider_rejected', message, { cause });
  }
}

/** Thrown by a provider adapter when the provider failed in a way that may pass on retry. */
export class ProviderUnavailableError extends CommstratError {
  /** `retryAfterSeconds`: what the provider asked us to wait (Retry-After), when it said. */
  constructor(message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super('provider_unavailable', message, options);
  }
}
