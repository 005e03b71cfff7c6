import express, { type Router } from 'express';
import {
  DependencyUnavailableError,
  MalformedJsonError,
  PayloadTooLargeError,
  UnauthorizedError,
  checkReceiptSignature,
  parseReceipts,
} from '@commstrat/core';
import type { ReceiptSecrets } from '@commstrat/config';
import { moveOnUndelivered, type ReceiptCascadeDeps } from './receipt-cascade.ts';
import type { Journal, ReceiptOutcome } from '@commstrat/journal';
import type { IngestMetrics } from '@commstrat/observability';
import type { ParkedReceipts, ReplayGuard } from '@commstrat/queue';
import { state } from './v1-routes.ts';

export interface ReceiptDeps extends Omit<ReceiptCascadeDeps, 'journal' | 'logger'> {
  readonly journal: Pick<Journal, 'applyReceipts'> & ReceiptCascadeDeps['journal'];
  readonly secrets: Pick<ReceiptSecrets, 'secretOf'>;
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
 * provider's receipt secret (see checkReceiptSignature). Authenticated by the signature,
 * not by an API key. Unknown, duplicate and late receipts are counted and answered 200:
 * a provider that retries them would change nothing.
 */
export function receiptRoutes(deps: ReceiptDeps): Router {
  const router = express.Router();
  const text = express.text({ type: () => true, limit: deps.maxBodyBytes });
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
      deps.metrics.receipts.inc({ provider: key, outcome: 'refused' });
      return new UnauthorizedError(`receipt request refused: ${why}`);
    };
    const secret = await deps.secrets.secretOf(tenant, provider).catch((cause: unknown) => {
      throw new DependencyUnavailableError('providers (PostgreSQL)', cause);
    });
    // The same answer whether the provider is unknown or has no secret: nothing to probe.
    if (secret === null) throw refuse('no provider with a receipt secret at this address');
    const body = typeof req.body === 'string' ? req.body : '';
    const signature = req.get('x-commstrat-signature');
    const problem = checkReceiptSignature(secret, signature, body, new Date(), deps.windowSeconds);
    if (problem !== undefined) throw refuse(`signature ${problem} (X-Commstrat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">)`);
    const first = await deps.replays.firstSighting(`receipt:${key}`, signature ?? '', 2 * deps.windowSeconds).catch((cause: unknown) => {
      throw new DependencyUnavailableError('replay guard (Redis)', cause);
    });
    if (!first) throw refuse('replayed (this signature was seen before)');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (cause) {
      throw new MalformedJsonError(cause);
    }
    const receipts = parseReceipts(parsed);
    const now = new Date();
    // Cascades first: an undelivered receipt on a step that moves on moves the message on
    // instead of ending it failed.
    const cascaded = await moveOnUndelivered({ ...deps, logger: state(res).logger }, tenant, provider, receipts, now).catch(
      (cause: unknown) => {
        throw new DependencyUnavailableError('journal (MongoDB) or lanes (Redis)', cause);
      },
    );
    const rest = receipts.filter((_receipt, index) => !cascaded.has(index));
    const outcomes = await deps.journal.applyReceipts(tenant, provider, rest, now).catch((cause: unknown) => {
      throw new DependencyUnavailableError('journal (MongoDB)', cause);
    });
    // A receipt that names no message may have overtaken the journal write of its
    // message's `sent`: kept and tried again for a while (ReceiptParking), not lost.
    const unknown = rest.filter((_, i) => outcomes[i] === 'unknown');
    const parkedAt = now.getTime();
    await deps.parked.park(unknown.map((receipt) => ({ tenant, provider, receipt, at: parkedAt }))).catch((cause: unknown) => {
      throw new DependencyUnavailableError('parked receipts (Redis)', cause);
    });
    const counts: Record<ReceiptOutcome, number> = { applied: 0, duplicate: 0, late: 0, unknown: 0 };
    for (const outcome of outcomes) counts[outcome] += 1;
    // Held ones (strategy unreadable) changed nothing now: counted late, like any receipt that changes nothing.
    for (const outcome of cascaded.values()) counts[outcome === 'moved' ? 'applied' : 'late'] += 1;
    for (const [outcome, count] of Object.entries(counts)) {
      if (count > 0) deps.metrics.receipts.inc({ provider: key, outcome: outcome === 'unknown' ? 'parked' : outcome }, count);
    }
    if (counts.applied < receipts.length) state(res).logger.info('receipts that changed nothing', { provider: key, ...counts });
    res.json({ received: receipts.length, ...counts });
  });
  return router;
}
