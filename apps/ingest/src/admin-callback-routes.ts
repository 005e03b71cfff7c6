import express, { type Response, type Router } from 'express';
import { NotFoundError, ValidationError } from '@commstrat/core';
import { callbackTargetOf, rotateCallbackSecret, setTenantCallbackUrl, type CallbackTarget, type Tenant } from '@commstrat/config';
import type { Sql } from 'postgres';
import { state } from './v1-routes.ts';

/**
 * /v1/admin/callbacks: the tenant's default status-callback URL and the secret its
 * callbacks are signed with (docs/api.md#status-callbacks). Mounted behind the admin-scope
 * check of adminRoutes. The secret is shown here, to an admin key, and nowhere else.
 */
export function callbackRoutes(sql: Sql, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.get('/', async (_req, res) => {
    res.json(view(await callbackTargetOf(sql, tenantOf(res).id)));
  });

  router.put('/', ...parseJson, async (req, res) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ValidationError([{ path: '', message: 'must be an object with callback_url' }]);
    }
    const { callback_url: url, ...rest } = body as Record<string, unknown>;
    const extra = Object.keys(rest).map((key) => ({ path: `/${key}`, message: 'is not an allowed property' }));
    if (extra.length > 0) throw new ValidationError(extra);
    if (url !== null && !isHttpUrl(url)) {
      throw new ValidationError([{ path: '/callback_url', message: 'must be an http(s) URL of at most 2048 characters, or null' }]);
    }
    const tenant = tenantOf(res);
    res.json(view(await setTenantCallbackUrl(sql, tenant.id, url, `api-key:${tenant.keyId ?? 'unknown'}`)));
  });

  router.post('/rotate-secret', async (_req, res) => {
    const tenant = tenantOf(res);
    res.json(view(await rotateCallbackSecret(sql, tenant.id, `api-key:${tenant.keyId ?? 'unknown'}`)));
  });

  return router;
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2048) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function view(target: CallbackTarget | null): { callback_url: string | null; signing_secret: string } {
  if (target === null) throw new NotFoundError('tenant');
  return { callback_url: target.url, signing_secret: target.secret };
}

function tenantOf(res: Response): Tenant {
  const tenant = state(res).tenant;
  if (tenant === undefined) throw new Error('admin route reached without authentication');
  return tenant;
}
