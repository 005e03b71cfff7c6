import express, { type Router } from 'express';
import {
  DependencyUnavailableError,
  InvalidEncodingError,
  MalformedJsonError,
  PayloadTooLargeError,
  UnauthorizedError,
  checkReceiptSignature,
  parseReceipts,
  type Receipt,
} from '@commstrat/core';
import { checkBasicAuth, checkTwilioSignature, mapProviderReceipts, parseReceiptBody, renderTemplate, type ReceiptMapping } from '@commstrat/providers';
import type { ReceiptSecrets } from '@commstrat/config';
import type { ReceiptOutcome } from '@commstrat/journal';
import type { ReceiptLifecycle } from '@commstrat/lifecycle';
import type { IngestMetrics } from '@commstrat/observability';
import type { ParkedReceipts, ReplayGuard } from '@commstrat/queue';
import type { ReceiptProviders } from './receipt-definitions.ts';
import { state } from './v1-routes.ts';

export interface ReceiptDeps {
  /** What a receipt does to its message: ends it, or moves it on to its next cascade step. */
  readonly lifecycle: Pick<ReceiptLifecycle, 'apply'>;
  readonly secrets: Pick<ReceiptSecrets, 'secretOf'>;
  /** Provider rows, for the kind whose definition may map the provider's own report format. */
  readonly providers: Pick<ReceiptProviders, 'providerOf'>;
  readonly replays: Pick<ReplayGuard, 'firstSighting'>;
  /** Where receipts that name no message yet wait for its `sent` to be journaled. */
  readonly parked: Pick<ParkedReceipts, 'park'>;
  readonly metrics: IngestMetrics;
  /** How far a receipt request's signed timestamp may be from now, in seconds. */
  readonly windowSeconds: number;
  readonly maxBodyBytes: number;
}

/**
 * The generic signature (X-Commstrat-Signature with the provider's receipt secret), once:
 * throws `refuse(why)` for a missing secret, a bad or stale signature, or a replay.
 */
async function checkCommstratSignature(
  deps: ReceiptDeps,
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
  const first = await deps.replays.firstSighting(`receipt:${tenant}/${provider}`, signature ?? '', 2 * deps.windowSeconds).catch((cause: unknown) => {
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
function checkNativeAuth(
  mapping: ReceiptMapping,
  credentials: Readonly<Record<string, unknown>>,
  document: () => unknown,
  header: string | undefined,
  refuse: (why: string) => Error,
): void {
  const credential = (template: string | undefined) => {
    const value = renderTemplate(template ?? '', { credentials });
    return typeof value === 'string' ? value : '';
  };
  if (mapping.auth.type === 'basic') {
    const [username, password] = [credential(mapping.auth.username), credential(mapping.auth.password)];
    if (username === '' || password === '') throw refuse('no provider with a receipt secret at this address');
    const problem = checkBasicAuth(username, password, header);
    if (problem !== undefined) throw refuse(`Authorization ${problem} (HTTP basic with the callback user and password)`);
    return;
  }
  const [authToken, url] = [credential(mapping.auth.secret), credential(mapping.auth.url)];
  if (authToken === '' || url === '') throw refuse('no provider with a receipt secret at this address');
  const fields = document() as Record<string, string>;
  const problem = checkTwilioSignature(authToken, url, fields, header);
  if (problem !== undefined) throw refuse(`X-Twilio-Signature ${problem} (HMAC-SHA1 of the status callback URL and the sorted fields under the auth token)`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text; bytes that are not UTF-8 are the sender's error, never retried. */
function utf8(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new InvalidEncodingError('receipt body is not valid UTF-8');
  }
}

/**
 * The request body, parsed at most once however often it is read: as JSON (a body that is
 * not JSON is a MalformedJsonError, whichever format was expected), or as the mapping's
 * own format (its form fields, or the same JSON).
 */
function receiptBody(body: string) {
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
    /** The generic format's envelope, `{"receipts": [...]}`, which no mapped provider's report has. */
    isGenericEnvelope(): boolean {
      try {
        const parsed = asJson();
        return typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { receipts?: unknown }).receipts);
      } catch {
        return false;
      }
    },
    as(mapping: ReceiptMapping): unknown {
      if (mapping.format !== 'form') return asJson();
      form ??= parseReceiptBody(mapping, body);
      return form;
    },
  };
}

/**
 * `POST /v1/providers/{tenant}/{provider}/receipts` (the path names the provider by its
 * key, `<tenant>/<provider>`): delivery receipts in the generic format, signed with the
 * provider's receipt secret (see checkReceiptSignature), or, for a provider whose
 * definition has a `receipts:` mapping, the provider's own reports authenticated as the
 * mapping says (the generic signature, or Twilio's X-Twilio-Signature). Authenticated by
 * the signature, not by an API key. Unknown, duplicate and late receipts are counted and answered 200:
 * a provider that retries them would change nothing.
 */
export function receiptRoutes(deps: ReceiptDeps): Router {
  const router = express.Router();
  // Raw bytes, decoded strictly below: express.text would turn a bad UTF-8 byte into
  // U+FFFD silently, and the receipt's error text would be stored changed.
  const text = express.raw({ type: () => true, limit: deps.maxBodyBytes });
  router.post('/providers/:tenant/:provider/receipts', (req, res, next) => {
    text(req, res, (error?: unknown) => {
      if ((error as { type?: string } | undefined)?.type === 'entity.too.large') return next(new PayloadTooLargeError(deps.maxBodyBytes));
      next(error);
    });
  }, async (req, res) => {
    const tenant = req.params['tenant'] ?? '';
    const provider = req.params['provider'] ?? '';
    const key = `${tenant}/${provider}`;
    const refuse = (why: string) => {
      deps.metrics.receipts(key, 'refused');
      return new UnauthorizedError(`receipt request refused: ${why}`);
    };
    const body = utf8(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    const read = receiptBody(body);
    const row = await deps.providers.providerOf(tenant, provider).catch((cause: unknown) => {
      throw new DependencyUnavailableError('providers (PostgreSQL)', cause);
    });
    // A provider whose definition maps its own reports is read through that mapping; any
    // other posts the generic signed format. A request signed the generic way (a relay,
    // an operator) may use the generic format for any provider.
    const mapping = row?.receipts;
    const signature = req.get('x-commstrat-signature');
    const nativeHeader = mapping?.auth.type === 'twilio_signature' ? 'x-twilio-signature' : mapping?.auth.type === 'basic' ? 'authorization' : undefined;
    if (mapping !== undefined && nativeHeader !== undefined && (signature === undefined || req.get(nativeHeader) !== undefined)) {
      checkNativeAuth(mapping, row?.credentials ?? {}, () => read.as(mapping), req.get(nativeHeader), refuse);
    } else {
      await checkCommstratSignature(deps, tenant, provider, body, signature, refuse);
    }
    // Read only once authenticated: an unsigned body is refused before it is looked at.
    const generic = mapping === undefined || (signature !== undefined && read.isGenericEnvelope());
    const mapped = generic ? { receipts: parseReceipts(read.asJson()), ignored: [] } : mapProviderReceipts(mapping, read.as(mapping));
    const receipts: Receipt[] = mapped.receipts;
    const now = new Date();
    // An undelivered receipt on a cascade step that moves on moves the message on
    // instead of ending it failed (`moved`; `held`: its strategy could not be read).
    const results = await deps.lifecycle.apply(tenant, provider, receipts, now, state(res).logger);
    // A receipt that names no message may have overtaken the journal write of its
    // message's `sent`: kept and tried again for a while (ReceiptParking), not lost.
    const unknown = receipts.filter((_, i) => results[i] === 'unknown');
    const parkedAt = now.getTime();
    await deps.parked.park(unknown.map((receipt) => ({ tenant, provider, receipt, at: parkedAt }))).catch((cause: unknown) => {
      throw new DependencyUnavailableError('parked receipts (Redis)', cause);
    });
    const counts: Record<ReceiptOutcome, number> = { applied: 0, duplicate: 0, late: 0, unknown: 0 };
    // Held ones (strategy unreadable) changed nothing now: counted late, like any receipt that changes nothing.
    for (const result of results) counts[result === 'moved' ? 'applied' : result === 'held' ? 'late' : result] += 1;
    for (const [outcome, count] of Object.entries(counts)) {
      if (count > 0) deps.metrics.receipts(key, outcome === 'unknown' ? 'parked' : outcome, count);
    }
    // Intermediate reports (Twilio's `sent`, Sinch's `Dispatched`) are not receipts: counted, nothing else.
    const ignored = mapped.ignored.length;
    if (ignored > 0) deps.metrics.receipts(key, 'ignored', ignored);
    if (counts.applied < receipts.length + ignored) state(res).logger.info('receipts that changed nothing', { provider: key, ...counts, ignored });
    res.json({ received: receipts.length + ignored, ...counts, ...(generic ? {} : { ignored }) });
  });
  return router;
}
