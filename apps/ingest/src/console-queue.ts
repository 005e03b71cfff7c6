import express, { type RequestHandler, type Router } from 'express';
import { NotFoundError, ValidationError, type FieldProblem } from '@commstrat/core';
import type { Journal } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import { isStreamEntryId, type DeadLetterEntry, type DeadLetterStream, type QueueInspector } from '@commstrat/queue';
import { replayDeadLetters, selectsDeadLetter, type Redriver, type ReplayDlqOptions } from '@commstrat/redrive';
import { checkBody } from './admin-schemas.ts';
import type { RedriveJobs } from './console-jobs.ts';
import { fromRedis, scopeOf, shownTo } from './console-scope.ts';
import { principalOf } from './console-session.ts';
import { pathParam } from './route-support.ts';
import { state } from './v1-routes.ts';

export interface QueueConsoleDeps {
  readonly journal: Journal;
  readonly inspector: Pick<QueueInspector, 'laneReports' | 'delayed'>;
  readonly deadLetters: DeadLetterStream;
  readonly redriver: Redriver;
  readonly jobs: RedriveJobs;
  readonly logger: Logger;
}

/** Most dead-letter entries one listing reads before it answers with where to go on. */
const MAX_SCANNED = 5000;
const PAGE = 500;
/** A dry run's selection when the form sets no limit: it reads each entry's message. */
const DRY_RUN_LIMIT = 1000;

const RFC3339 = '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$';
const redriveSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dry_run'],
  properties: {
    dry_run: { type: 'boolean', description: 'true: list what would go and change nothing' },
    provider: { type: 'string', minLength: 1, maxLength: 200 },
    error_code: { type: 'string', minLength: 1, maxLength: 100 },
    since: { type: 'string', pattern: RFC3339 },
    until: { type: 'string', pattern: RFC3339 },
    limit: { type: 'integer', minimum: 1, maximum: 100_000 },
    rate: { type: 'number', exclusiveMinimum: 0, maximum: 10_000, description: 'messages a second; default: as fast as the servers go' },
  },
} as const;

type RedriveBody = { dry_run: boolean; provider?: string; error_code?: string; since?: string; until?: string; limit?: number; rate?: number };

/**
 * /lanes: depth, lag and pending per priority lane and the delayed set, for a page that
 * polls it; /dead-letters: the dead-letter stream, filtered, the tenant's own entries for
 * an admin key; /dead-letters/redrive: the CLI's `replay dlq` (packages/redrive) as a
 * dry run answered at once, or as a job whose progress /jobs/:id answers.
 */
export function queueConsoleRoutes(deps: QueueConsoleDeps, scoped: RequestHandler, parseJson: RequestHandler[]): Router {
  const router = express.Router();

  router.get('/lanes', async (_req, res) => {
    const operator = principalOf(res).operator;
    const now = Date.now();
    const [lanes, delayed] = await fromRedis(() => Promise.all([deps.inspector.laneReports(), deps.inspector.delayed(now, 1000)]));
    res.json({
      at: new Date(now),
      // The lanes are shared by every tenant: their depth and lag are the service's.
      lanes: lanes.map((lane) => ({
        lane: lane.lane,
        depth: lane.depth,
        lag_ms: lane.lagMs,
        pending: lane.pending,
        ...(operator ? { consumers: lane.consumers.map((c) => ({ name: c.name, pending: c.pending, idle_ms: c.idleMs })) } : {}),
      })),
      delayed: { total: delayed.total, due: delayed.due },
    });
  });

  router.get('/dead-letters', scoped, async (req, res) => {
    const principal = principalOf(res);
    const filter = parseFilter(req.query);
    const limitText = req.query['limit'] ?? '100';
    const limit = Number(limitText);
    if (typeof limitText !== 'string' || !/^\d{1,3}$/.test(limitText) || limit < 1 || limit > 500) {
      throw new ValidationError([{ path: '/limit', message: 'must be an integer from 1 to 500' }]);
    }
    const after = typeof req.query['after'] === 'string' ? req.query['after'] : null;
    if (after !== null && !isStreamEntryId(after)) throw new ValidationError([{ path: '/after', message: 'must be the next_after of the previous page' }]);
    const tenant = scopeOf(res);
    const found: DeadLetterEntry[] = [];
    let cursor = after;
    let scanned = 0;
    let more = true;
    while (found.length < limit && scanned < MAX_SCANNED && more) {
      const page = await fromRedis(() => deps.deadLetters.page({ since: filter.since, until: filter.until, after: cursor }, PAGE));
      for (const entry of page.entries) {
        scanned += 1;
        cursor = entry.entryId;
        if (selectsDeadLetter(entry, { tenant, provider: filter.provider, errorCode: filter.errorCode })) found.push(entry);
        if (found.length >= limit) break;
      }
      more = page.nextAfter !== null;
    }
    const mask = shownTo(principal);
    res.json({
      entries: found.map((entry) => mask(deadLetterView(entry))),
      scanned,
      next_after: more || found.length >= limit ? cursor : null,
      ...(principal.operator ? { stream_length: await fromRedis(() => deps.deadLetters.length()) } : {}),
    });
  });

  router.post('/dead-letters/redrive', scoped, ...parseJson, async (req, res) => {
    const principal = principalOf(res);
    const body = checkBody<RedriveBody>(redriveSchema, req.body);
    // The schema checks the shape only: `2026-02-31T25:61:00Z` passes it and is no date.
    const problems: FieldProblem[] = [];
    const since = dateTime(body.since, '/since', problems);
    const until = dateTime(body.until, '/until', problems);
    if (problems.length > 0) throw new ValidationError(problems);
    const options: ReplayDlqOptions = {
      tenant: scopeOf(res),
      provider: body.provider,
      errorCode: body.error_code,
      since,
      until,
      dryRun: body.dry_run,
      rate: body.rate,
      limit: body.limit ?? (body.dry_run ? DRY_RUN_LIMIT : undefined),
    };
    if (options.since !== undefined && options.until !== undefined && options.since >= options.until) {
      throw new ValidationError([{ path: '/until', message: 'must be after since' }]);
    }
    if (body.dry_run) {
      const summary = await replayDeadLetters({ stream: deps.deadLetters, journal: deps.journal, redriver: deps.redriver }, options, { tick() {}, setTotal() {}, stop() {} });
      res.json(summary);
      return;
    }
    const job = await deps.jobs.start({ scopeTenant: options.tenant ?? null, startedBy: principal.tenant.keyId ?? 'unknown' }, options);
    state(res).logger.info('console dead-letter redrive started', { job_id: job.id, scope_tenant: options.tenant ?? 'all' });
    res.status(202).json(job);
  });

  router.get('/jobs/:id', async (req, res) => {
    const job = await deps.jobs.get(pathParam(req, 'id'));
    if (job === null || !maySee(principalOf(res), job.scope_tenant)) throw new NotFoundError('job');
    res.json(job);
  });

  router.post('/jobs/:id/stop', async (req, res) => {
    const id = pathParam(req, 'id');
    const job = await deps.jobs.get(id);
    if (job === null || !maySee(principalOf(res), job.scope_tenant)) throw new NotFoundError('job');
    await deps.jobs.requestStop(id);
    res.status(202).json({ id, stop_requested: true });
  });
  return router;
}

/** An admin key sees the jobs of its own tenant; a job across every tenant is an operator's. */
function maySee(principal: { operator: boolean; tenant: { id: string } }, scopeTenant: string | null): boolean {
  return principal.operator || scopeTenant === principal.tenant.id;
}

interface DeadLetterFilter {
  readonly provider?: string | undefined;
  readonly errorCode?: string | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
}

function parseFilter(query: Record<string, unknown>): DeadLetterFilter {
  const problems: FieldProblem[] = [];
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string' || value.length > 200) problems.push({ path: `/${name}`, message: 'must be given once, at most 200 characters' });
    return typeof value === 'string' ? value : undefined;
  };
  const filter = { provider: text('provider'), errorCode: text('error_code'), since: dateTime(text('since'), '/since', problems), until: dateTime(text('until'), '/until', problems) };
  if (problems.length > 0) throw new ValidationError(problems);
  return filter;
}

/** An RFC 3339 date-time as a Date; a problem at `path` when it is not one, or names no instant. */
function dateTime(value: string | undefined, path: string, problems: FieldProblem[]): Date | undefined {
  if (value === undefined) return undefined;
  const at = new Date(value);
  if (!new RegExp(RFC3339).test(value) || Number.isNaN(at.getTime())) problems.push({ path, message: 'must be an RFC 3339 date-time' });
  return at;
}

function deadLetterView(entry: DeadLetterEntry): Record<string, unknown> {
  return {
    entry_id: entry.entryId,
    dead_lettered_at: entry.at,
    message_id: entry.message?.id ?? null,
    tenant_id: entry.message?.tenant_id ?? null,
    channel: entry.message?.channel ?? null,
    priority: entry.message?.priority ?? null,
    recipient: entry.message?.recipient ?? null,
    provider: entry.provider ?? null,
    code: entry.code ?? null,
    reason: entry.reason,
  };
}
