import express, { type RequestHandler, type Router } from 'express';
import { NotFoundError, ValidationError } from '@commstrat/core';
import {
  checkStrategy,
  findStrategy,
  listStrategies,
  listStrategyVersions,
  moveStrategyVersion,
  rollbackStrategy,
  saveStrategy,
  type StoredStrategy,
} from '@commstrat/config';
import type { Sql } from 'postgres';
import { checkBody, moveSchema, rollbackSchema } from './admin-schemas.ts';
import { actorOf, callerOf, pathParam } from './route-support.ts';
import { state } from './v1-routes.ts';
import { diffVersions, showVersion } from './version-routes.ts';

/**
 * The handlers of /v1/admin/strategies, each for the tenant the request is
 * authenticated as (`res.locals.tenant`). Named so that the operator console serves the
 * very same handlers for the ones its pages use (list, versions, show, diff, rollback);
 * a resource versioned the same way gets a set of its own and the console a page.
 */
export interface StrategyHandlers {
  readonly save: RequestHandler;
  readonly validate: RequestHandler;
  readonly list: RequestHandler;
  readonly show: RequestHandler;
  readonly versions: RequestHandler;
  readonly diff: RequestHandler;
  readonly rollback: RequestHandler;
  readonly move: RequestHandler;
}

export function strategyHandlers(sql: Sql): StrategyHandlers {
  const find = (tenantId: string, name: string, version?: number) => findStrategy(sql, tenantId, name, version);
  return {
    async save(req, res) {
      const tenant = callerOf(res);
      const defaultForChannel = booleanQuery(req.query['default_for_channel'], '/default_for_channel');
      const saved = await saveStrategy(sql, tenant.id, req.body, {
        ...(defaultForChannel === undefined ? {} : { defaultForChannel }),
        actor: actorOf(res),
      });
      state(res).logger.info('strategy saved', { strategy: saved.strategy.name, version: saved.version });
      res.status(201).json(strategyView(saved));
    },

    async validate(req, res) {
      const strategy = await checkStrategy(sql, callerOf(res).id, req.body);
      res.json({ valid: true, strategy });
    },

    async list(_req, res) {
      const strategies = await listStrategies(sql, callerOf(res).id);
      res.json({ strategies: strategies.map(strategyView) });
    },

    show: showVersion('strategy', find, strategyView),

    async versions(req, res) {
      const name = pathParam(req, 'name');
      const versions = await listStrategyVersions(sql, callerOf(res).id, name);
      if (versions.length === 0) throw new NotFoundError(`strategy ${name}`);
      res.json({
        name,
        versions: versions.map((v) => ({ version: v.version, channel: v.channel, default_for_channel: v.defaultForChannel, created_at: v.createdAt.toISOString() })),
      });
    },

    diff: diffVersions('strategy', find, (stored) => stored.strategy),

    async rollback(req, res) {
      const { to_version: toVersion } = checkBody<{ to_version: number }>(rollbackSchema, req.body);
      const saved = await rollbackStrategy(sql, callerOf(res).id, pathParam(req, 'name'), toVersion, { actor: actorOf(res) });
      state(res).logger.info('strategy rolled back', { strategy: saved.strategy.name, version: saved.version, rolled_back_to: toVersion });
      res.status(201).json(strategyView(saved));
    },

    async move(req, res) {
      const { from_version: fromVersion, to_version: toVersion } = checkBody<{ from_version: number; to_version?: number }>(moveSchema, req.body);
      const moved = await moveStrategyVersion(sql, callerOf(res).id, pathParam(req, 'name'), {
        fromVersion,
        ...(toVersion === undefined ? {} : { toVersion }),
        actor: actorOf(res),
      });
      state(res).logger.info('strategy version moved', { strategy: moved.name, version: moved.fromVersion, moved_to: moved.toVersion });
      res.json({ name: moved.name, from_version: moved.fromVersion, to_version: moved.toVersion });
    },
  };
}

/**
 * /v1/admin/strategies: create a version, validate without saving, list, show, list
 * versions, diff two versions, roll back, move pinned messages to another version.
 */
export function strategyRoutes(sql: Sql, parseJson: RequestHandler[]): Router {
  const handlers = strategyHandlers(sql);
  const router = express.Router();
  router.post('/', ...parseJson, handlers.save);
  // Before /:name, so "validate" is never taken for a name.
  router.post('/validate', ...parseJson, handlers.validate);
  router.get('/', handlers.list);
  router.get('/:name', handlers.show);
  router.get('/:name/versions', handlers.versions);
  router.get('/:name/diff', handlers.diff);
  router.post('/:name/rollback', ...parseJson, handlers.rollback);
  router.post('/:name/move', ...parseJson, handlers.move);
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
