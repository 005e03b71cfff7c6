import express, { type Router } from 'express';
import { NotFoundError, ValidationError, jsonDiff, type FieldProblem } from '@commstrat/core';
import {
  checkStrategy,
  findStrategy,
  listStrategies,
  moveStrategyVersion,
  rollbackStrategy,
  saveStrategy,
  type StoredStrategy,
} from '@commstrat/config';
import type { TemplateRenderer } from '@commstrat/templates';
import type { Sql } from 'postgres';
import { auditRoutes } from './admin-audit-routes.ts';
import type { EgressChecks } from './egress-checks.ts';
import { keyRoutes } from './admin-key-routes.ts';
import { checkBody, moveSchema, positiveQuery, rollbackSchema } from './admin-schemas.ts';
import { providerRoutes } from './admin-provider-routes.ts';
import { callbackRoutes } from './admin-callback-routes.ts';
import { stopListRoutes } from './admin-stop-list-routes.ts';
import { templateRoutes } from './admin-template-routes.ts';
import { operatorTenantRoutes, ownTenantRoutes } from './admin-tenant-routes.ts';
import { actorOf, callerOf as adminOf, pathParam, requireScope } from './route-support.ts';
import { state } from './v1-routes.ts';

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
 * version, validate without saving, list, show, diff two versions, roll back, move pinned messages to another version), templates
 * (save a version, validate, list, show, diff, preview), the stop list, API keys, the tenant's name and zone, and the audit log. Every change is
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
  router.use('/templates', templateRoutes(deps.sql, deps.renderer, parseJson));

  router.post('/strategies', ...parseJson, async (req, res) => {
    const tenant = adminOf(res);
    const defaultForChannel = booleanQuery(req.query['default_for_channel'], '/default_for_channel');
    const saved = await saveStrategy(deps.sql, tenant.id, req.body, {
      ...(defaultForChannel === undefined ? {} : { defaultForChannel }),
      actor: `api-key:${tenant.keyId ?? 'unknown'}`,
    });
    state(res).logger.info('strategy saved', { strategy: saved.strategy.name, version: saved.version });
    res.status(201).json(strategyView(saved));
  });

  router.post('/strategies/validate', ...parseJson, async (req, res) => {
    const strategy = await checkStrategy(deps.sql, adminOf(res).id, req.body);
    res.json({ valid: true, strategy });
  });

  router.get('/strategies', async (_req, res) => {
    const strategies = await listStrategies(deps.sql, adminOf(res).id);
    res.json({ strategies: strategies.map(strategyView) });
  });

  router.get('/strategies/:name', async (req, res) => {
    const version = versionQuery(req.query['version']);
    const found = await findStrategy(deps.sql, adminOf(res).id, pathParam(req, 'name'), version);
    if (found === null) throw new NotFoundError(`strategy ${req.params['name']}${version === undefined ? '' : ` version ${version}`}`);
    res.json(strategyView(found));
  });

  router.get('/strategies/:name/diff', async (req, res) => {
    const name = pathParam(req, 'name');
    const problems: FieldProblem[] = [];
    const from = positiveQuery(req.query['from'], '/from', problems);
    const to = positiveQuery(req.query['to'], '/to', problems);
    if (req.query['from'] === undefined) problems.push({ path: '/from', message: 'is required' });
    if (problems.length > 0 || from === undefined) throw new ValidationError(problems);
    const tenantId = adminOf(res).id;
    const [before, after] = await Promise.all([findStrategy(deps.sql, tenantId, name, from), findStrategy(deps.sql, tenantId, name, to)]);
    if (before === null) throw new NotFoundError(`strategy ${name} version ${from}`);
    if (after === null) throw new NotFoundError(`strategy ${name}${to === undefined ? '' : ` version ${to}`}`);
    res.json({ name, from: before.version, to: after.version, changes: jsonDiff(before.strategy, after.strategy) });
  });

  router.post('/strategies/:name/rollback', ...parseJson, async (req, res) => {
    const { to_version: toVersion } = checkBody<{ to_version: number }>(rollbackSchema, req.body);
    const saved = await rollbackStrategy(deps.sql, adminOf(res).id, pathParam(req, 'name'), toVersion, { actor: actorOf(res) });
    state(res).logger.info('strategy rolled back', { strategy: saved.strategy.name, version: saved.version, rolled_back_to: toVersion });
    res.status(201).json(strategyView(saved));
  });

  router.post('/strategies/:name/move', ...parseJson, async (req, res) => {
    const { from_version: fromVersion, to_version: toVersion } = checkBody<{ from_version: number; to_version?: number }>(moveSchema, req.body);
    const moved = await moveStrategyVersion(deps.sql, adminOf(res).id, pathParam(req, 'name'), {
      fromVersion,
      ...(toVersion === undefined ? {} : { toVersion }),
      actor: actorOf(res),
    });
    state(res).logger.info('strategy version moved', { strategy: moved.name, version: moved.fromVersion, moved_to: moved.toVersion });
    res.json({ name: moved.name, from_version: moved.fromVersion, to_version: moved.toVersion });
  });
  return router;
}

function strategyView(stored: StoredStrategy): Record<string, unknown> {
  return {
    name: stored.strategy.name,
    version: stored.version,
    channel: stored.strategy.channel,
    default_for_channel: stored.defaultForChannel,
    created_at: stored.createdAt.toISOString(),
    definition: stored.strategy,
  };
}

function booleanQuery(value: unknown, path: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new ValidationError([{ path, message: 'must be true or false' }]);
}

function versionQuery(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const version = Number(value);
  if (typeof value === 'string' && /^[1-9][0-9]{0,8}$/.test(value)) return version;
  const problem: FieldProblem = { path: '/version', message: 'must be a positive whole number' };
  throw new ValidationError([problem]);
}
