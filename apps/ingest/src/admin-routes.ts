import express, { type Response, type Router } from 'express';
import { ForbiddenError, NotFoundError, ValidationError, type FieldProblem } from '@commstrat/core';
import {
  checkStrategy,
  findStrategy,
  listStrategies,
  saveStrategy,
  type StoredStrategy,
  type Tenant,
} from '@commstrat/config';
import type { Sql } from 'postgres';
import { callbackRoutes } from './admin-callback-routes.ts';
import { stopListRoutes } from './admin-stop-list-routes.ts';
import { state } from './v1-routes.ts';

export interface AdminDeps {
  /** The configuration store; admin routes write to it directly, never through a cache. */
  readonly sql: Sql;
}

/**
 * /v1/admin: a tenant's own configuration, for keys with the `admin` scope (any other
 * key gets 403). Strategies so far: create a version, validate without saving, list,
 * show; the stop list: add, remove, list. A saved version reaches every replica within about a second, by NOTIFY.
 */
export function adminRoutes(deps: AdminDeps, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    if (!(adminOf(res).scopes ?? []).includes('admin')) throw new ForbiddenError('admin');
    next();
  });
  router.use('/stop-list', stopListRoutes(deps.sql, parseJson));
  router.use('/callbacks', callbackRoutes(deps.sql, parseJson));

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
    const found = await findStrategy(deps.sql, adminOf(res).id, req.params['name'] ?? '', version);
    if (found === null) throw new NotFoundError(`strategy ${req.params['name']}${version === undefined ? '' : ` version ${version}`}`);
    res.json(strategyView(found));
  });
  return router;
}

function adminOf(res: Response): Tenant {
  const tenant = state(res).tenant;
  if (tenant === undefined) throw new Error('admin route reached without authentication');
  return tenant;
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
