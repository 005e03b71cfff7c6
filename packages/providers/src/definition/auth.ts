import { createHash, createHmac, createSign } from 'node:crypto';
import type { EgressPolicy } from '@commstrat/egress';
import {
  EgressRefusedError,
  ProviderRejectedError,
  ProviderUnavailableError,
  type CommstratError,
  type FieldProblem,
} from '@commstrat/core';
import { HttpClient, RequestTimeoutError } from '../http-client.ts';
import { asText, renderTemplate, type TemplateContext } from './template.ts';

/**
 * How a provider definition authenticates its requests (the `auth:` section). Every
 * value is a template over `credentials` (e.g. `"{{ credentials.api_key }}"`), so the
 * secrets stay in the provider row and never in a definition file. Nothing here logs or
 * journals a credential: the journaled request body never holds one (body_fields are
 * redacted, tokens and signatures travel in headers), and token endpoint exchanges are
 * not journaled at all.
 */

const template = { type: 'string', minLength: 1, maxLength: 2000 } as const;
const url = { type: 'string', minLength: 1, maxLength: 2000, description: 'absolute URL, or a template giving one' } as const;
const refreshBefore = {
  type: 'integer',
  minimum: 0,
  maximum: 3600,
  description: 'seconds before expires_in to fetch a new token; default 60 (at most half the lifetime)',
} as const;
const kind = (type: string, required: readonly string[], properties: Record<string, unknown>) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['type', ...required],
    properties: { type: { const: type }, ...properties },
  }) as const;

export const HMAC_SIGNED_PARTS = ['method', 'path', 'timestamp', 'body_sha256'] as const;
export type HmacSignedPart = (typeof HMAC_SIGNED_PARTS)[number];

/** The JSON Schema of the `auth:` section; one branch per type, chosen by `type`. */
export const authDefinitionSchema = {
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [
    kind('header', ['name', 'value'], { name: { type: 'string', minLength: 1 }, value: template }),
    kind('query', ['name', 'value'], { name: { type: 'string', minLength: 1 }, value: template }),
    kind('basic', ['username'], { username: template, password: template }),
    kind('bearer', ['token'], { token: template }),
    kind('body_fields', ['fields'], {
      fields: {
        type: 'object',
        minProperties: 1,
        additionalProperties: template,
        description: 'merged into the top level of the request body; journaled as [redacted]',
      },
    }),
    kind('hmac', ['header', 'secret', 'signed'], {
      header: { type: 'string', minLength: 1, description: 'the header carrying the signature' },
      secret: template,
      algorithm: { enum: ['sha256'], description: 'default sha256' },
      signed: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: { enum: HMAC_SIGNED_PARTS },
        description: 'what is signed, in this order, one per line',
      },
      timestamp_header: { type: 'string', minLength: 1, description: 'where the signed timestamp (unix seconds) goes' },
      encoding: { enum: ['hex', 'base64'], description: 'default hex' },
      prefix: { type: 'string', maxLength: 100, description: 'before the signature, e.g. "sha256="' },
    }),
    kind('oauth2_client_credentials', ['token_url', 'client_id', 'client_secret'], {
      token_url: url,
      client_id: template,
      client_secret: template,
      scope: { type: 'string', maxLength: 2000 },
      client_auth: { enum: ['basic', 'body'], description: 'how the client authenticates to the token URL; default basic' },
      refresh_before_seconds: refreshBefore,
    }),
    kind('oauth2_jwt_bearer', ['token_url', 'client_email', 'private_key', 'scope'], {
      token_url: url,
      client_email: template,
      private_key: { ...template, maxLength: 10000, description: 'PEM, PKCS#8 (a service account key file)' },
      private_key_id: template,
      scope: { type: 'string', minLength: 1, maxLength: 2000 },
      lifetime_seconds: { type: 'integer', minimum: 60, maximum: 3600, description: 'assertion lifetime; default 3600' },
      refresh_before_seconds: refreshBefore,
    }),
  ],
} as const;

export type AuthDefinition =
  | { readonly type: 'header' | 'query'; readonly name: string; readonly value: string }
  | { readonly type: 'basic'; readonly username: string; readonly password?: string }
  | { readonly type: 'bearer'; readonly token: string }
  | { readonly type: 'body_fields'; readonly fields: Readonly<Record<string, string>> }
  | {
      readonly type: 'hmac';
      readonly header: string;
      readonly secret: string;
      readonly algorithm?: 'sha256';
      readonly signed: readonly HmacSignedPart[];
      readonly timestamp_header?: string;
      readonly encoding?: 'hex' | 'base64';
      readonly prefix?: string;
    }
  | {
      readonly type: 'oauth2_client_credentials';
      readonly token_url: string;
      readonly client_id: string;
      readonly client_secret: string;
      readonly scope?: string;
      readonly client_auth?: 'basic' | 'body';
      readonly refresh_before_seconds?: number;
    }
  | {
      readonly type: 'oauth2_jwt_bearer';
      readonly token_url: string;
      readonly client_email: string;
      readonly private_key: string;
      readonly private_key_id?: string;
      readonly scope: string;
      readonly lifetime_seconds?: number;
      readonly refresh_before_seconds?: number;
    };

/** What a schema cannot say about an auth section (beyond its branch's fields). */
export function checkAuthDefinition(auth: AuthDefinition | undefined): FieldProblem[] {
  if (auth?.type === 'hmac' && auth.signed.includes('timestamp') && auth.timestamp_header === undefined) {
    return [{ path: '/auth/timestamp_header', message: 'is required when timestamp is signed (the provider must see it)' }];
  }
  return [];
}

/**
 * Thrown when the provider refuses our account or credentials, or its endpoint is one
 * the egress policy refuses: nothing passes until an operator fixes the provider row.
 */
export class ProviderMisconfiguredError extends ProviderRejectedError {
  constructor(message: string, cause?: unknown, hint = 'check its credentials') {
    super(`${message} (provider misconfigured: ${hint})`, cause);
  }
}

/** One request as it will go out, for the auth to add to. */
export interface OutgoingRequest {
  readonly method: string;
  /** Path and query, as sent. */
  path: string;
  readonly headers: Record<string, string>;
  /** The wire body. */
  body: string;
}

export interface HmacInput {
  readonly method: string;
  readonly path: string;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly body: string;
}

/**
 * The HMAC-SHA256 signature of a request: the chosen parts, one per line in the order
 * given (`body_sha256` is the hex SHA-256 of the body as sent), keyed with `secret`.
 */
export function hmacSignature(
  input: HmacInput,
  secret: string,
  signed: readonly HmacSignedPart[],
  encoding: 'hex' | 'base64' = 'hex',
): string {
  const parts: Record<HmacSignedPart, string> = {
    method: input.method.toUpperCase(),
    path: input.path,
    timestamp: String(input.timestamp),
    body_sha256: createHash('sha256').update(input.body).digest('hex'),
  };
  return createHmac('sha256', secret)
    .update(signed.map((part) => parts[part]).join('\n'))
    .digest(encoding);
}

/**
 * A JWT assertion for the OAuth 2.0 JWT-bearer grant (RFC 7523) as Google service
 * accounts use it: RS256 over `{iss, scope, aud, iat, exp}`, signed with the account's
 * private key.
 */
export function jwtAssertion(options: {
  readonly issuer: string;
  readonly scope: string;
  readonly audience: string;
  readonly privateKey: string;
  readonly keyId?: string | undefined;
  readonly nowSeconds: number;
  readonly lifetimeSeconds: number;
}): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = encode({ alg: 'RS256', typ: 'JWT', ...(options.keyId === undefined ? {} : { kid: options.keyId }) });
  const claims = encode({
    iss: options.issuer,
    scope: options.scope,
    aud: options.audience,
    iat: options.nowSeconds,
    exp: options.nowSeconds + options.lifetimeSeconds,
  });
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(options.privateKey).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

/** Why no token could be had, already classified like a send error. */
export class TokenUnavailableError extends Error {
  override readonly name = 'TokenUnavailableError';
  readonly error: CommstratError;
  /** What the token endpoint answered, for the exchange record (never the request: it holds the secret). */
  readonly response: string;

  constructor(error: CommstratError, response: string) {
    super(error.message);
    this.error = error;
    this.response = response;
  }
}

interface CachedToken {
  readonly accessToken: string;
  /** Use it until then (ms), a margin before it expires. */
  readonly refreshAt: number;
}

const DEFAULT_REFRESH_BEFORE_S = 60;
/** When a token endpoint omits expires_in: a lifetime short enough to be safe. */
const DEFAULT_EXPIRES_IN_S = 300;

/**
 * Applies a definition's auth to requests. OAuth2 tokens are cached per adapter (per
 * replica and provider row) until shortly before they expire; concurrent sends share
 * one token request.
 */
export class RequestAuthenticator {
  private readonly auth: AuthDefinition | undefined;
  private readonly context: TemplateContext;
  private readonly providerId: string;
  private readonly timeoutMs: number;
  private readonly clock: () => number;
  private readonly egress: EgressPolicy;
  private tokenClient: HttpClient | undefined;
  private cached: CachedToken | undefined;
  private pending: Promise<CachedToken> | undefined;
  /** Token requests made, for tests and metrics. */
  tokenRequests = 0;

  constructor(options: {
    readonly providerId: string;
    readonly auth: AuthDefinition | undefined;
    readonly credentials: Readonly<Record<string, unknown>>;
    /** Checks the token endpoint's connections, as every other outgoing request. */
    readonly egress: EgressPolicy;
    readonly timeoutMs?: number | undefined;
    readonly clock?: () => number;
  }) {
    this.providerId = options.providerId;
    this.egress = options.egress;
    this.auth = options.auth;
    this.context = { credentials: options.credentials };
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.clock = options.clock ?? Date.now;
  }

  /** True when a 401 may mean an expired or revoked token that a new one would cure. */
  get usesTokens(): boolean {
    return this.auth?.type === 'oauth2_client_credentials' || this.auth?.type === 'oauth2_jwt_bearer';
  }

  /** The fields body_fields auth adds to the body (empty for other types). */
  bodyFields(): Record<string, string> {
    if (this.auth?.type !== 'body_fields') return {};
    return Object.fromEntries(Object.entries(this.auth.fields).map(([name, value]) => [name, this.text(value)]));
  }

  /** Adds headers, query parameters or a signature to `request`; may fetch a token. */
  async apply(request: OutgoingRequest, signal?: AbortSignal): Promise<void> {
    const auth = this.auth;
    if (auth === undefined || auth.type === 'body_fields') return;
    switch (auth.type) {
      case 'header':
        request.headers[auth.name] = this.text(auth.value);
        return;
      case 'query':
        request.path += `${request.path.includes('?') ? '&' : '?'}${encodeURIComponent(auth.name)}=${encodeURIComponent(this.text(auth.value))}`;
        return;
      case 'basic': {
        const pair = `${this.text(auth.username)}:${auth.password === undefined ? '' : this.text(auth.password)}`;
        request.headers['authorization'] = `Basic ${Buffer.from(pair).toString('base64')}`;
        return;
      }
      case 'bearer':
        request.headers['authorization'] = `Bearer ${this.text(auth.token)}`;
        return;
      case 'hmac': {
        const timestamp = Math.floor(this.clock() / 1000);
        if (auth.timestamp_header !== undefined) request.headers[auth.timestamp_header] = String(timestamp);
        const signature = hmacSignature(
          { method: request.method, path: request.path, timestamp, body: request.body },
          this.text(auth.secret),
          auth.signed,
          auth.encoding,
        );
        request.headers[auth.header] = `${auth.prefix ?? ''}${signature}`;
        return;
      }
      default: {
        const token = await this.token(signal);
        request.headers['authorization'] = `Bearer ${token.accessToken}`;
      }
    }
  }

  /**
   * Forgets the cached token: the provider answered 401 to the request that carried
   * `authorization`. Only that token goes: when concurrent sends all get 401 for one
   * revoked token, the one fetched by the first of them is kept.
   */
  invalidate(authorization?: string): void {
    if (authorization === undefined || authorization === `Bearer ${this.cached?.accessToken ?? ''}`) this.cached = undefined;
  }

  close(): void {
    this.tokenClient?.close();
  }

  private text(value: string): string {
    return asText(renderTemplate(value, this.context));
  }

  private token(signal?: AbortSignal): Promise<CachedToken> {
    const cached = this.cached;
    if (cached !== undefined && this.clock() < cached.refreshAt) return Promise.resolve(cached);
    // One token request at a time: a burst of sends after expiry would otherwise each
    // ask for a token, and token endpoints rate-limit harder than send endpoints.
    this.pending ??= this.fetchToken(signal).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetchToken(signal?: AbortSignal): Promise<CachedToken> {
    const auth = this.auth;
    if (auth?.type !== 'oauth2_client_credentials' && auth?.type !== 'oauth2_jwt_bearer') {
      throw new Error('no token auth');
    }
    const tokenUrl = this.text(auth.token_url);
    if (!URL.canParse(tokenUrl)) {
      throw new TokenUnavailableError(
        new ProviderMisconfiguredError(`provider ${this.providerId}: token_url "${tokenUrl}" is not an absolute URL`),
        '',
      );
    }
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const form = new URLSearchParams();
    if (auth.type === 'oauth2_client_credentials') {
      form.set('grant_type', 'client_credentials');
      if (auth.scope !== undefined) form.set('scope', auth.scope);
      const id = this.text(auth.client_id);
      const secret = this.text(auth.client_secret);
      if (auth.client_auth === 'body') {
        form.set('client_id', id);
        form.set('client_secret', secret);
      } else {
        // RFC 6749 2.3.1: both parts form-encoded before the Basic pair is built.
        const pair = `${encodeURIComponent(id)}:${encodeURIComponent(secret)}`;
        headers['authorization'] = `Basic ${Buffer.from(pair).toString('base64')}`;
      }
    } else {
      form.set('grant_type', 'urn:ietf:params:oauth:grant-type:jwt-bearer');
      const keyId = auth.private_key_id === undefined ? undefined : this.text(auth.private_key_id);
      try {
        form.set(
          'assertion',
          jwtAssertion({
            issuer: this.text(auth.client_email),
            scope: auth.scope,
            audience: tokenUrl,
            privateKey: this.text(auth.private_key),
            keyId: keyId === '' ? undefined : keyId,
            nowSeconds: Math.floor(this.clock() / 1000),
            lifetimeSeconds: auth.lifetime_seconds ?? 3600,
          }),
        );
      } catch (cause) {
        // A key that does not parse is the row's fault; the message says so, never the key.
        throw new TokenUnavailableError(
          new ProviderMisconfiguredError(`provider ${this.providerId}: the private key cannot sign the JWT assertion`, cause),
          '',
        );
      }
    }
    this.tokenClient ??= new HttpClient({ baseUrl: new URL(tokenUrl).origin, egress: this.egress, maxSockets: 1, timeoutMs: this.timeoutMs });
    this.tokenRequests += 1;
    let reply;
    try {
      reply = await this.tokenClient.post(tokenUrl, form.toString(), headers, signal);
    } catch (cause) {
      if (cause instanceof EgressRefusedError) {
        throw new TokenUnavailableError(
          new ProviderMisconfiguredError(`provider ${this.providerId}: token_url ${cause.message}`, cause, 'check its token_url'),
          JSON.stringify({ token_error: `egress refused (${cause.reason})` }),
        );
      }
      const what = cause instanceof RequestTimeoutError ? 'did not answer in time' : 'is unreachable';
      throw new TokenUnavailableError(
        new ProviderUnavailableError(`provider ${this.providerId}: token endpoint ${what}`, { cause }),
        JSON.stringify({ token_error: cause instanceof Error ? cause.message : String(cause) }),
      );
    }
    const body = parseJsonObject(reply.body);
    const response = JSON.stringify({ token_status: reply.status, token_response: body ?? reply.body.slice(0, 300) });
    const accessToken = body?.['access_token'];
    if (reply.status >= 200 && reply.status < 300 && typeof accessToken === 'string' && accessToken !== '') {
      const expiresIn = Number(body?.['expires_in'] ?? DEFAULT_EXPIRES_IN_S);
      const lifetimeMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_EXPIRES_IN_S) * 1000;
      const marginMs = Math.min((auth.refresh_before_seconds ?? DEFAULT_REFRESH_BEFORE_S) * 1000, lifetimeMs / 2);
      const token = { accessToken, refreshAt: this.clock() + lifetimeMs - marginMs };
      this.cached = token;
      return token;
    }
    throw new TokenUnavailableError(this.classifyTokenError(reply.status, body, reply.headers['retry-after']), response);
  }

  /**
   * RFC 6749 5.2: a 400/401 (invalid_client, invalid_grant, unauthorized_client, ...)
   * means our credentials or grant are wrong, which no retry cures; 429 and 5xx pass.
   */
  private classifyTokenError(status: number, body: Record<string, unknown> | undefined, retryAfter: string | string[] | undefined): CommstratError {
    const code = typeof body?.['error'] === 'string' ? body['error'] : 'no error code';
    const detail = `provider ${this.providerId}: token endpoint answered ${status} (${code})`;
    if (status === 429 || status >= 500) {
      const seconds = Number(retryAfter);
      return new ProviderUnavailableError(detail, Number.isFinite(seconds) && seconds > 0 ? { retryAfterSeconds: seconds } : {});
    }
    if (status >= 200 && status < 300) return new ProviderUnavailableError(`${detail} without an access_token`);
    return new ProviderMisconfiguredError(detail);
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
