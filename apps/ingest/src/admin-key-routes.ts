import express, { type Router } from 'express';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyRecord, type ApiKeyScope } from '@commstrat/config';
import type { Sql } from 'postgres';
import { checkBody, keyCreateSchema } from './admin-schemas.ts';
import { actorOf, callerOf, pathParam } from './route-support.ts';
import { state } from './v1-routes.ts';

/**
 * /v1/admin/keys: the tenant's API keys. Mounted behind the admin-scope check. A new
 * key is answered once, in plain text, and stored only as its SHA-256 digest; lists
 * show neither. Creating and revoking are audited; a revoked key is refused by every
 * replica as soon as the commit's NOTIFY reaches it.
 */
export function keyRoutes(sql: Sql, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.post('/', ...parseJson, async (req, res) => {
    const input = checkBody<{ label: string; scopes: ApiKeyScope[] }>(keyCreateSchema, req.body);
    const { record, key } = await createApiKey(sql, callerOf(res).id, { ...input, actor: actorOf(res) });
    state(res).logger.info('API key created', { key_id: record.id, scopes: record.scopes.join(',') });
    res.status(201).json({ ...keyView(record), key });
  });

  router.get('/', async (_req, res) => {
    res.json({ keys: (await listApiKeys(sql, callerOf(res).id)).map(keyView) });
  });

  router.delete('/:id', async (req, res) => {
    const revoked = await revokeApiKey(sql, callerOf(res).id, pathParam(req, 'id'), actorOf(res));
    state(res).logger.info('API key revoked', { key_id: revoked.id });
    res.json(keyView(revoked));
  });
  return router;
}

/** A key as the API shows it: never the key, never its digest. */
export function keyView(key: ApiKeyRecord): Record<string, unknown> {
  return {
    id: key.id,
    label: key.label,
    scopes: key.scopes,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}
