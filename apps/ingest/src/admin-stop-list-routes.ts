import express, { type Response, type Router } from 'express';
import { NotFoundError, ValidationError, parseStopListAddress, type ContactAddress, type FieldProblem } from '@commstrat/core';
import { addToStopList, listStopList, removeFromStopList, type StopListEntry, type Tenant } from '@commstrat/config';
import type { Sql } from 'postgres';
import { state } from './v1-routes.ts';

/**
 * /v1/admin/stop-list: the tenant's opted-out addresses. Mounted behind the admin-scope
 * check of adminRoutes. Every change is audited and reaches every dispatcher replica by
 * NOTIFY, with the routing snapshot.
 */
export function stopListRoutes(sql: Sql, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.get('/', async (req, res) => {
    const page = listQuery(req.query);
    const { entries, nextAfter } = await listStopList(sql, tenantOf(res).id, page);
    res.json({ entries: entries.map(entryView), next_after: nextAfter === null ? null : `${nextAfter.kind}:${nextAfter.address}` });
  });

  router.post('/', ...parseJson, async (req, res) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ValidationError([{ path: '', message: 'must be an object with phone or email' }]);
    }
    const { phone, email, reason, ...rest } = body as Record<string, unknown>;
    const problems: FieldProblem[] = Object.keys(rest).map((key) => ({ path: `/${key}`, message: 'is not an allowed property' }));
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500)) {
      problems.push({ path: '/reason', message: 'must be a string of at most 500 characters' });
    }
    if (problems.length > 0) throw new ValidationError(problems);
    const address = parseStopListAddress({ phone, email });
    const tenant = tenantOf(res);
    const { entry, created } = await addToStopList(sql, tenant.id, address, {
      ...(typeof reason === 'string' ? { reason } : {}),
      actor: `api-key:${tenant.keyId ?? 'unknown'}`,
    });
    if (created) state(res).logger.info('stop-list entry added', { kind: entry.kind });
    res.status(created ? 201 : 200).json(entryView(entry));
  });

  router.delete('/:kind/:address', async (req, res) => {
    const kind = req.params['kind'];
    if (kind !== 'phone' && kind !== 'email') throw new ValidationError([{ path: '/kind', message: 'must be phone or email' }]);
    const address = parseStopListAddress({ [kind]: req.params['address'] });
    const tenant = tenantOf(res);
    if (!(await removeFromStopList(sql, tenant.id, address, `api-key:${tenant.keyId ?? 'unknown'}`))) {
      throw new NotFoundError(`stop-list entry ${kind}`);
    }
    state(res).logger.info('stop-list entry removed', { kind });
    res.status(204).end();
  });
  return router;
}

function tenantOf(res: Response): Tenant {
  const tenant = state(res).tenant;
  if (tenant === undefined) throw new Error('admin route reached without authentication');
  return tenant;
}

function entryView(entry: StopListEntry): Record<string, unknown> {
  return {
    [entry.kind]: entry.address,
    reason: entry.reason,
    created_by: entry.createdBy,
    created_at: entry.createdAt.toISOString(),
  };
}

function listQuery(query: Record<string, unknown>): { limit: number; after?: ContactAddress } {
  const problems: FieldProblem[] = [];
  const limitText = query['limit'] ?? '100';
  const limit = Number(limitText);
  if (typeof limitText !== 'string' || !/^[0-9]{1,4}$/.test(limitText) || limit < 1 || limit > 1000) {
    problems.push({ path: '/limit', message: 'must be an integer from 1 to 1000' });
  }
  const afterText = query['after'];
  let after: ContactAddress | undefined;
  if (afterText !== undefined) {
    const match = typeof afterText === 'string' ? /^(phone|email):(.+)$/.exec(afterText) : null;
    if (match === null) problems.push({ path: '/after', message: 'must be the next_after of the previous page' });
    else after = { kind: match[1] as ContactAddress['kind'], address: match[2] ?? '' };
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return after === undefined ? { limit } : { limit, after };
}
