import express, { type Request, type Router } from 'express';
import {
  ADDRESS_CHANNEL,
  ANY_CATEGORY,
  BatchTooLargeError,
  CATEGORY_PATTERN,
  CommstratError,
  DependencyUnavailableError,
  MAX_PREFERENCES_PER_REQUEST,
  NotFoundError,
  ValidationError,
  parsePreferenceChange,
  parseRecipientAddress,
  type ContactAddress,
  type FieldProblem,
  type PreferenceChange,
} from '@commstrat/core';
import type { OptOut, PreferenceStore } from '@commstrat/journal';
import { callerOf, requireScope } from './route-support.ts';
import { state } from './v1-routes.ts';

export type PreferencePort = Pick<PreferenceStore, 'apply' | 'read' | 'remove'>;

/**
 * /v1/preferences: the opt-outs of the tenant's recipients, per address, channel and
 * category. `send` keys set and remove them, `read` keys read them back. Each change is
 * in force for messages claimed after its answer (the dispatcher reads the store for
 * every claimed batch; nothing is cached).
 */
export function preferenceRoutes(store: PreferencePort, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.post('/preferences', requireScope('send'), ...parseJson, async (req, res) => {
    const change = parsePreferenceChange(req.body);
    const [outcome] = await storeCall(store.apply(callerOf(res).id, [change], 'api', new Date()));
    state(res).logger.info('preference set', { channel: change.channel, category: change.category, opted_out: change.optedOut, outcome });
    res.json({ ...changeView(change), changed: outcome === 'changed' });
  });

  router.post('/preferences/batch', requireScope('send'), ...parseJson, async (req, res) => {
    const items = batchItems(req.body);
    const changes: PreferenceChange[] = [];
    const rejected: { index: number; error: ReturnType<CommstratError['toJSON']>['error'] }[] = [];
    items.forEach((item, index) => {
      try {
        changes.push(parsePreferenceChange(item));
      } catch (error) {
        if (!(error instanceof CommstratError)) throw error;
        rejected.push({ index, error: error.toJSON().error });
      }
    });
    const outcomes = await storeCall(store.apply(callerOf(res).id, changes, 'api', new Date()));
    const changed = outcomes.filter((outcome) => outcome === 'changed').length;
    state(res).logger.info('preferences set', { changed, unchanged: outcomes.length - changed, rejected: rejected.length });
    const status = rejected.length === 0 ? 200 : changes.length === 0 ? 422 : 207;
    res.status(status).json({ changed, unchanged: outcomes.length - changed, rejected });
  });

  router.get('/preferences', requireScope('read'), async (req, res) => {
    const address = addressQuery(req);
    const optOuts = await storeCall(store.read(callerOf(res).id, address));
    res.json({ recipient: { [address.kind]: address.address }, opt_outs: optOuts.map(optOutView) });
  });

  router.delete('/preferences', requireScope('send'), async (req, res) => {
    const address = addressQuery(req);
    const only = scopeQuery(req, address);
    const removed = await storeCall(store.remove(callerOf(res).id, address, only));
    if (removed.length === 0) throw new NotFoundError('opt-out');
    state(res).logger.info('preferences removed', { removed: removed.length });
    res.status(204).end();
  });
  return router;
}

async function storeCall<T>(call: Promise<T>): Promise<T> {
  return call.catch((cause: unknown) => {
    if (cause instanceof CommstratError) throw cause;
    throw new DependencyUnavailableError('preferences (MongoDB)', cause);
  });
}

function batchItems(body: unknown): unknown[] {
  const items = (body as { preferences?: unknown } | null)?.preferences;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray(items)) {
    throw new ValidationError([{ path: '/preferences', message: 'is required: an array of preferences' }]);
  }
  const extra = Object.keys(body).filter((key) => key !== 'preferences');
  if (extra.length > 0) throw new ValidationError(extra.map((key) => ({ path: `/${key}`, message: 'is not an allowed property' })));
  if (items.length === 0) throw new ValidationError([{ path: '/preferences', message: 'must have at least 1 item' }]);
  if (items.length > MAX_PREFERENCES_PER_REQUEST) {
    throw new BatchTooLargeError(items.length, MAX_PREFERENCES_PER_REQUEST, '/preferences');
  }
  return items;
}

/**
 * The address of `?phone=` or `?email=`. A `+` left unencoded in a query string reads as
 * a space: a phone that starts with a space and a digit is read with its `+`.
 */
function addressQuery(req: Request): ContactAddress {
  const { phone, email } = req.query;
  const problems: FieldProblem[] = [];
  for (const [name, value] of Object.entries({ phone, email })) {
    if (value !== undefined && typeof value !== 'string') problems.push({ path: `/${name}`, message: 'must be given once' });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  const spelled = typeof phone === 'string' && /^ \d/.test(phone) ? `+${phone.slice(1)}` : phone;
  return parseRecipientAddress(
    { ...(spelled === undefined ? {} : { phone: spelled }), ...(email === undefined ? {} : { email }) },
    '',
  );
}

/** `?channel=` and `?category=` of a removal: only those opt-outs; absent: all of the address. */
function scopeQuery(req: Request, address: ContactAddress): { channel?: 'sms' | 'email'; category?: string } {
  const { channel, category } = req.query;
  const problems: FieldProblem[] = [];
  const expected = ADDRESS_CHANNEL[address.kind];
  if (channel !== undefined && channel !== expected) problems.push({ path: '/channel', message: `must be ${expected} for this recipient` });
  if (category !== undefined && (typeof category !== 'string' || (category !== ANY_CATEGORY && !new RegExp(CATEGORY_PATTERN).test(category)))) {
    problems.push({ path: '/category', message: 'must be "*" or a category (lower-case letters, digits, "_" or "-")' });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return {
    ...(channel === undefined ? {} : { channel: expected as 'sms' | 'email' }),
    ...(typeof category === 'string' ? { category } : {}),
  };
}

function changeView(change: PreferenceChange): Record<string, unknown> {
  return {
    recipient: { [change.address.kind]: change.address.address },
    channel: change.channel,
    category: change.category,
    opted_out: change.optedOut,
  };
}

function optOutView(optOut: OptOut): Record<string, unknown> {
  return {
    channel: optOut.channel,
    category: optOut.category,
    source: optOut.source,
    ...(optOut.reason === undefined ? {} : { reason: optOut.reason }),
    at: optOut.at.toISOString(),
  };
}
