import express, { type Request, type RequestHandler } from 'express';
import { DependencyUnavailableError, InvalidEncodingError, MalformedJsonError, PayloadTooLargeError, checkReceiptSignature } from '@commstrat/core';
import type { ReceiptSecrets } from '@commstrat/config';
import { checkBasicAuth, checkTwilioSignature, parseReceiptBody, renderTemplate, type ReceiptMapping } from '@commstrat/providers';
import type { ReplayGuard } from '@commstrat/queue';
import type { ReceiptProvider, ReceiptProviders } from './receipt-definitions.ts';
import { pathParam } from './route-support.ts';

// How a provider's webhooks (delivery receipts, inbound messages) prove where they come
// from: the generic signature under the provider's receipt secret, or the provider's own
// scheme as its definition says (Twilio's X-Twilio-Signature, HTTP basic).

/** What the generic signature check needs. */
export interface SignatureDeps {
  readonly secrets: Pick<ReceiptSecrets, 'secretOf'>;
  readonly replays: Pick<ReplayGuard, 'firstSighting'>;
  /** How far a request's signed timestamp may be from now, in seconds. */
  readonly windowSeconds: number;
}

/** What authenticating a provider's webhook request needs. */
export interface WebhookAuthDeps extends SignatureDeps {
  readonly providers: Pick<ReceiptProviders, 'providerOf'>;
}

/** A webhook request once authenticated: its body, and the mapping it is read through. */
export interface AuthenticatedWebhook<M> {
  readonly read: WebhookBody;
  /** Undefined: the body is in the generic format (`{"receipts": [...]}`, `{"messages": [...]}`). */
  readonly mapping: M | undefined;
}

/**
 * Authenticates a provider's webhook request (receipts, inbound messages) at
 * `/v1/providers/{tenant}/{provider}/...`. A provider whose definition maps its own
 * webhook (`mappingOf` of its row) is checked as the mapping says; any other, or a request
 * signed the generic way (a relay, an operator), by the generic signature. Throws
 * `refuse(why)` when neither holds. The body is read as a report only once this passed:
 * an unsigned body is refused before it is looked at.
 */
export async function authenticateWebhook<M extends Pick<ReceiptMapping, 'auth' | 'format'>>(
  deps: WebhookAuthDeps,
  req: Request,
  kind: 'receipt' | 'inbound',
  mappingOf: (row: ReceiptProvider) => M | undefined,
  refuse: (why: string) => Error,
): Promise<AuthenticatedWebhook<M>> {
  const tenant = pathParam(req, 'tenant');
  const provider = pathParam(req, 'provider');
  const body = utf8(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
  const read = webhookBody(body, kind === 'receipt' ? 'receipts' : 'messages');
  const row = await deps.providers.providerOf(tenant, provider).catch((cause: unknown) => {
    throw new DependencyUnavailableError('providers (PostgreSQL)', cause);
  });
  const mapping = row === null ? undefined : mappingOf(row);
  const signature = req.get('x-commstrat-signature');
  const nativeHeader = nativeAuthHeader(mapping?.auth);
  if (mapping !== undefined && nativeHeader !== undefined && (signature === undefined || req.get(nativeHeader) !== undefined)) {
    checkNativeAuth(mapping.auth, row?.credentials ?? {}, () => read.as(mapping), req.get(nativeHeader), refuse);
  } else {
    await checkCommstratSignature(deps, `${kind}:${tenant}/${provider}`, tenant, provider, body, signature, refuse);
  }
  const generic = mapping === undefined || (signature !== undefined && read.isGenericEnvelope());
  return { read, mapping: generic ? undefined : mapping };
}

/** The request header a definition's own authentication reads; undefined: the generic signature. */
export function nativeAuthHeader(auth: ReceiptMapping['auth'] | undefined): string | undefined {
  return auth?.type === 'twilio_signature' ? 'x-twilio-signature' : auth?.type === 'basic' ? 'authorization' : undefined;
}

/** Reads the body as raw bytes (decoded strictly by utf8); too large is 413. */
export function rawBody(maxBytes: number): RequestHandler {
  const read = express.raw({ type: () => true, limit: maxBytes });
  return (req, res, next) => {
    read(req, res, (error?: unknown) => {
      if ((error as { type?: string } | undefined)?.type === 'entity.too.large') return next(new PayloadTooLargeError(maxBytes));
      next(error);
    });
  };
}

/**
 * The generic signature (X-Commstrat-Signature with the provider's receipt secret), once:
 * throws `refuse(why)` for a missing secret, a bad or stale signature, or a replay.
 */
export async function checkCommstratSignature(
  deps: SignatureDeps,
  scope: string,
  tenant: string,
  provider: string,
  body: string,
  signature: string | undefined,
  refuse: (why: string) => Error,
): Promise<void> {
  const secret = await deps.secrets.secretOf(tenant, provider).catch((cause: unknown) => {
    throw new DependencyUnavailableError('providers (PostgreSQL)', cause);
  });
  // The same answer whether the provider is unknown or has no secret: nothing to probe.
  if (secret === null) throw refuse('no provider with a receipt secret at this address');
  const problem = checkReceiptSignature(secret, signature, body, new Date(), deps.windowSeconds);
  if (problem !== undefined) throw refuse(`signature ${problem} (X-Commstrat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">)`);
  const first = await deps.replays.firstSighting(scope, signature ?? '', 2 * deps.windowSeconds).catch((cause: unknown) => {
    throw new DependencyUnavailableError('replay guard (Redis)', cause);
  });
  if (!first) throw refuse('replayed (this signature was seen before)');
}

/**
 * The provider's own way of authenticating its reports, as the mapping's `auth` says:
 * Twilio's X-Twilio-Signature under the row's auth token over the status callback URL the
 * row gave Twilio, or HTTP basic auth with the user and password provisioned at the
 * provider (Sinch). Throws `refuse(why)` when a credential is unset or the header does not
 * match. Neither scheme has a timestamp, so there is no replay window: a replayed request
 * changes nothing (receipts are conditional writes; it counts as a duplicate).
 */
export function checkNativeAuth(
  auth: ReceiptMapping['auth'],
  credentials: Readonly<Record<string, unknown>>,
  document: () => unknown,
  header: string | undefined,
  refuse: (why: string) => Error,
): void {
  const credential = (template: string | undefined) => {
    const value = renderTemplate(template ?? '', { credentials });
    return typeof value === 'string' ? value : '';
  };
  if (auth.type === 'basic') {
    const [username, password] = [credential(auth.username), credential(auth.password)];
    if (username === '' || password === '') throw refuse('no provider with a receipt secret at this address');
    const problem = checkBasicAuth(username, password, header);
    if (problem !== undefined) throw refuse(`Authorization ${problem} (HTTP basic with the callback user and password)`);
    return;
  }
  const [authToken, url] = [credential(auth.secret), credential(auth.url)];
  if (authToken === '' || url === '') throw refuse('no provider with a receipt secret at this address');
  const fields = document() as Record<string, string>;
  const problem = checkTwilioSignature(authToken, url, fields, header);
  if (problem !== undefined) throw refuse(`X-Twilio-Signature ${problem} (HMAC-SHA1 of the status callback URL and the sorted fields under the auth token)`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text; bytes that are not UTF-8 are the sender's error, never retried. */
export function utf8(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new InvalidEncodingError('request body is not valid UTF-8');
  }
}

/** A webhook request's body, read as the generic JSON or as a mapping's format. */
export interface WebhookBody {
  asJson(): unknown;
  /** The generic format's envelope (`{"receipts": [...]}`, `{"messages": [...]}`), which no mapped provider's report has. */
  isGenericEnvelope(): boolean;
  as(mapping: Pick<ReceiptMapping, 'format'>): unknown;
}

/**
 * The request body, parsed at most once however often it is read: as JSON (a body that is
 * not JSON is a MalformedJsonError, whichever format was expected), or as the mapping's
 * own format (its form fields, or the same JSON).
 */
export function webhookBody(body: string, envelope: 'receipts' | 'messages'): WebhookBody {
  let json: { value: unknown } | { cause: unknown } | undefined;
  let form: unknown;
  const asJson = (): unknown => {
    if (json === undefined) {
      try {
        json = { value: JSON.parse(body) as unknown };
      } catch (cause) {
        json = { cause };
      }
    }
    if ('cause' in json) throw new MalformedJsonError(json.cause);
    return json.value;
  };
  return {
    asJson,
    /** The generic format's envelope (`{"receipts": [...]}`, `{"messages": [...]}`), which no mapped provider's report has. */
    isGenericEnvelope(): boolean {
      try {
        const parsed = asJson();
        return typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as Record<string, unknown>)[envelope]);
      } catch {
        return false;
      }
    },
    as(mapping: Pick<ReceiptMapping, 'format'>): unknown {
      if (mapping.format !== 'form') return asJson();
      form ??= parseReceiptBody(mapping, body);
      return form;
    },
  };
}

