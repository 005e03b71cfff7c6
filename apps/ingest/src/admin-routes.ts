import express, { type Router } from 'express';
import type { TemplateRenderer } from '@commstrat/templates';
import type { Sql } from 'postgres';
import { auditRoutes } from './admin-audit-routes.ts';
import type { EgressChecks } from './egress-checks.ts';
import { keyRoutes } from './admin-key-routes.ts';
import { providerRoutes } from './admin-provider-routes.ts';
import { strategyRoutes } from './admin-strategy-routes.ts';
import { callbackRoutes } from './admin-callback-routes.ts';
import { consentRoutes } from './admin-consent-routes.ts';
import { stopListRoutes } from './admin-stop-list-routes.ts';
import { templateRoutes } from './admin-template-routes.ts';
import { operatorTenantRoutes, ownTenantRoutes } from './admin-tenant-routes.ts';
import { requireScope } from './route-support.ts';

export interface AdminDeps {
  /** The configuration store; admin routes write to it directly, never through a cache. */
  readonly sql: Sql;
  /** Renders templates for a save's check and the preview (the one intake uses). */
  readonly renderer: TemplateRenderer;
  /** URLs a tenant sets (callback URL, provider endpoints, token URLs) pass the egress policy or are refused, naming the field. */
  readonly egress: EgressChecks;
}

/**
 * /v1/admin: `/tenants` (create and list tenants) for keys with the `operator` scope;
 * everything else is the caller's own tenant's configuration, for keys with the
 * `admin` scope (any other key gets 403, before its body is read): strategies (create a
 * version, validate without saving, list, show, list versions, diff two versions, roll back, move pinned messages to another version), templates
 * (save a version, validate, list, show, diff, preview), the stop list, the consent settings, API keys, the tenant's name and zone, and the audit log. Every change is
 * written with its audit row in one transaction, and reaches every replica within about
 * a second, by NOTIFY.
 */
export function adminRoutes(deps: AdminDeps, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();
  // Before the admin check: an operator's key needs no admin scope of its own tenant.
  router.use('/tenants', requireScope('operator'), operatorTenantRoutes(deps.sql, parseJson));
  router.use(requireScope('admin'));
  router.use('/stop-list', stopListRoutes(deps.sql, parseJson));
  router.use('/keys', keyRoutes(deps.sql, parseJson));
  router.use('/tenant', ownTenantRoutes(deps.sql, parseJson));
  router.use('/audit', auditRoutes(deps.sql));
  router.use(providerRoutes(deps.sql, deps.egress, parseJson));
  router.use('/callbacks', callbackRoutes(deps.sql, deps.egress, parseJson));
  router.use('/consent', consentRoutes(deps.sql, parseJson));
  router.use('/templates', templateRoutes(deps.sql, deps.renderer, parseJson));

  router.use('/strategies', strategyRoutes(deps.sql, parseJson));
  return router;
}
