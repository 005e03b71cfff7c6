import express, { type Router } from 'express';
import { DependencyUnavailableError, UnauthorizedError, parseReceipts, type Receipt } from '@commstrat/core';
import { mapProviderReceipts } from '@commstrat/providers';
import type { ReceiptSecrets } from '@commstrat/config';
import type { ReceiptOutcome } from '@commstrat/journal';
import type { ReceiptLifecycle } from '@commstrat/lifecycle';
import type { IngestMetrics } from '@commstrat/observability';
import type { ParkedReceipts, ReplayGuard } from '@commstrat/queue';
import type { ReceiptProviders } from './receipt-definitions.ts';
import { pathParam } from './route-support.ts';
import { state } from './v1-routes.ts';
import { authenticateWebhook, rawBody } from './webhook-auth.ts';

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
  router.post('/providers/:tenant/:provider/receipts', rawBody(deps.maxBodyBytes), async (req, res) => {
    const tenant = pathParam(req, 'tenant');
    const provider = pathParam(req, 'provider');
    const key = `${tenant}/${provider}`;
    const refuse = (why: string) => {
      deps.metrics.receipts(key, 'refused');
      return new UnauthorizedError(`receipt request refused: ${why}`);
    };
    // A provider whose definition maps its own reports is read through that mapping; any
    // other posts the generic signed format, which a relay or an operator may use for any.
    const { read, mapping } = await authenticateWebhook(deps, req, 'receipt', (row) => row.receipts, refuse);
    const generic = mapping === undefined;
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
