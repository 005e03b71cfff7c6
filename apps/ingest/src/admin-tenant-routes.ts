import express, { type Router } from 'express';
import { NotFoundError, ValidationError, type FieldProblem } from '@commstrat/core';
import { createTenant, findTenant, listTenants, updateTenant, type TenantRecord } from '@commstrat/config';
import type { Sql } from 'postgres';
import { checkBody, positiveQuery, tenantCreateSchema, tenantPatchSchema, TENANT_ID_PATTERN } from './admin-schemas.ts';
import { keyView } from './admin-key-routes.ts';
import { actorOf, callerOf } from './route-support.ts';
import { state } from './v1-routes.ts';

/** /v1/admin/tenant: the caller's own tenant, behind the admin-scope check. */
export function ownTenantRoutes(sql: Sql, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.get('/', async (_req, res) => {
    const tenant = await findTenant(sql, callerOf(res).id);
    if (tenant === null) throw new NotFoundError('tenant');
    res.json(tenantView(tenant));
  });

  router.patch('/', ...parseJson, async (req, res) => {
    const patch = checkBody<{ name?: string; time_zone?: string; default_locale?: string | null }>(tenantPatchSchema, req.body);
    const updated = await updateTenant(
      sql,
      callerOf(res).id,
      {
        ...(patch.name === undefined ? {} : { name: patch.name }),
        ...(patch.time_zone === undefined ? {} : { timeZone: patch.time_zone }),
        ...(patch.default_locale === undefined ? {} : { defaultLocale: patch.default_locale }),
      },
      actorOf(res),
    );
    state(res).logger.info('tenant updated');
    res.json(tenantView(updated));
  });
  return router;
}

/**
 * /v1/admin/tenants: every tenant, for keys with the `operator` scope, which only the
 * operator's command line or SQL can give. A new tenant comes with its first admin key,
 * answered once in plain text.
 */
export function operatorTenantRoutes(sql: Sql, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.post('/', ...parseJson, async (req, res) => {
    const input = checkBody<{ id: string; name: string; time_zone: string }>(tenantCreateSchema, req.body);
    const { tenant, adminKey } = await createTenant(sql, { id: input.id, name: input.name, timeZone: input.time_zone }, actorOf(res));
    state(res).logger.info('tenant created', { created_tenant_id: tenant.id, key_id: adminKey.record.id });
    res.status(201).json({ ...tenantView(tenant), admin_key: { ...keyView(adminKey.record), key: adminKey.key } });
  });

  router.get('/', async (req, res) => {
    const problems: FieldProblem[] = [];
    const limit = positiveQuery(req.query['limit'], '/limit', problems, 1000) ?? 100;
    const after = req.query['after'];
    if (after !== undefined && (typeof after !== 'string' || !new RegExp(TENANT_ID_PATTERN).test(after))) {
      problems.push({ path: '/after', message: 'must be the next_after of the previous page' });
    }
    if (problems.length > 0) throw new ValidationError(problems);
    const page = await listTenants(sql, typeof after === 'string' ? { limit, after } : { limit });
    res.json({ tenants: page.tenants.map(tenantView), next_after: page.nextAfter });
  });
  return router;
}

function tenantView(tenant: TenantRecord): Record<string, unknown> {
  return {
    id: tenant.id,
    name: tenant.name,
    time_zone: tenant.timeZone,
    default_locale: tenant.defaultLocale,
    created_at: tenant.createdAt.toISOString(),
  };
}
