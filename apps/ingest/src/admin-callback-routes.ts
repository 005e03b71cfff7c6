import express, { type Router } from 'express';
import { NotFoundError, ValidationError } from '@commstrat/core';
import { callbackTargetOf, rotateCallbackSecret, setTenantCallbackUrl, type CallbackTarget } from '@commstrat/config';
import { standardWebhookSecret } from '@commstrat/providers';
import type { Sql } from 'postgres';
import { callbackSettingsSchema, checkBody } from './admin-schemas.ts';
import type { EgressChecks } from './egress-checks.ts';
import { actorOf, callerOf } from './route-support.ts';

/**
 * /v1/admin/callbacks: the tenant's default status-callback URL and the secret its
 * callbacks are signed with (docs/api.md#status-callbacks). Mounted behind the admin-scope
 * check of adminRoutes. The secret is shown here, to an admin key, and nowhere else.
 */
export function callbackRoutes(sql: Sql, egress: Pick<EgressChecks, 'checkUrl'>, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.get('/', async (_req, res) => {
    res.json(view(await callbackTargetOf(sql, callerOf(res).id)));
  });

  router.put('/', ...parseJson, async (req, res) => {
    const { callback_url: url } = checkBody<{ callback_url: string | null }>(callbackSettingsSchema, req.body);
    if (url !== null && !isHttpUrl(url)) {
      throw new ValidationError([{ path: '/callback_url', message: 'must be an http(s) URL with a host, or null' }]);
    }
    if (url !== null) await egress.checkUrl(url, '/callback_url');
    res.json(view(await setTenantCallbackUrl(sql, callerOf(res).id, url, actorOf(res))));
  });

  router.post('/rotate-secret', async (_req, res) => {
    res.json(view(await rotateCallbackSecret(sql, callerOf(res).id, actorOf(res))));
  });

  return router;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * `webhook_secret` is the secret as Standard Webhooks libraries take it (`new
 * Webhook(webhook_secret)`); `signing_secret` keys the deprecated X-Commstrat-Signature.
 * For a secret made since Standard Webhooks they are the same text.
 */
function view(target: CallbackTarget | null): { callback_url: string | null; webhook_secret: string; signing_secret: string } {
  if (target === null) throw new NotFoundError('tenant');
  return { callback_url: target.url, webhook_secret: standardWebhookSecret(target.secret), signing_secret: target.secret };
}
