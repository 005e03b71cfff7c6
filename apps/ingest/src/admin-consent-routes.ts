import express, { type Router } from 'express';
import { parseConsentSettings, type ConsentSettings } from '@commstrat/core';
import { readConsentSettings, setConsentSettings } from '@commstrat/config';
import type { Sql } from 'postgres';
import { actorOf, callerOf } from './route-support.ts';
import { state } from './v1-routes.ts';

/**
 * /v1/admin/consent: the tenant's consent settings (docs/preferences.md): the categories no
 * opt-out holds back, and the inbound keywords per language with their replies. Mounted
 * behind the admin-scope check of adminRoutes; audited; reaches every replica by NOTIFY.
 */
export function consentRoutes(sql: Sql, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.get('/', async (_req, res) => {
    const { stored, effective } = await readConsentSettings(sql, callerOf(res).id);
    res.json(view(effective, stored));
  });

  router.put('/', ...parseJson, async (req, res) => {
    const settings = parseConsentSettings(req.body);
    const effective = await setConsentSettings(sql, callerOf(res).id, settings, actorOf(res));
    state(res).logger.info('consent settings changed', { exempt_categories: effective.exempt_categories.length });
    res.json(view(effective, settings));
  });
  return router;
}

/** What applies, and which parts are the defaults (left out of the tenant's settings). */
function view(effective: ConsentSettings, stored: Partial<ConsentSettings> | null): Record<string, unknown> {
  return {
    exempt_categories: effective.exempt_categories,
    keywords: effective.keywords,
    defaults: [...(stored?.exempt_categories === undefined ? ['exempt_categories'] : []), ...(stored?.keywords === undefined ? ['keywords'] : [])],
  };
}
