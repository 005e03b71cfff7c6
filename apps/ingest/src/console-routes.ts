import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type RequestHandler, type Router } from 'express';
import { DependencyUnavailableError, NotFoundError, ValidationError, type Message } from '@commstrat/core';
import { consoleAssetsDir } from '@commstrat/console';
import { listTenants, type TenantCache } from '@commstrat/config';
import { CallbackStore, type CallbackRecord, type Journal, type ProviderExchange } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import type { TemplateRenderer } from '@commstrat/templates';
import { DeadLetterStream, QueueInspector, ReplicaHeartbeats, type LaneStatistics, type LaneWriter } from '@commstrat/queue';
import { Redriver, replayDeadLetters } from '@commstrat/redrive';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Sql } from 'postgres';
import type { IngestConfig } from './config.ts';
import { RedriveJobs } from './console-jobs.ts';
import type { EgressChecks } from './egress-checks.ts';
import { strategyHandlers } from './admin-strategy-routes.ts';
import { templateHandlers } from './admin-template-routes.ts';
import { providerConsoleRoutes, type ProviderConsoleDeps } from './console-providers.ts';
import { queueConsoleRoutes, type QueueConsoleDeps } from './console-queue.ts';
import { journalUnavailable, scopeOf, scopeTenant, shownTo, MASKED } from './console-scope.ts';
import { ConsoleSessions, principalOf, sessionRoutes, type ConsolePrincipal, type ConsoleSessionOptions } from './console-session.ts';
import { messageView, parseListQuery } from './v1-routes.ts';

export interface ConsoleDeps extends Omit<ProviderConsoleDeps, 'inspector'>, Omit<QueueConsoleDeps, 'inspector'> {
  readonly inspector: Pick<QueueInspector, 'laneReports' | 'delayed' | 'tokenBucketsOf'>;
  readonly sql: Sql;
  readonly journal: Journal;
  readonly callbacks: { forMessage(messageId: string): Promise<CallbackRecord[]> };
  readonly sessions: ConsoleSessions;
  /** Ingest's bounded render worker: the templates page's previews and rollbacks render in it, as the admin API's do. */
  readonly renderer: TemplateRenderer;
  /** The built page (apps/console/dist); its index.html missing: the page answers 503, the JSON API works. */
  readonly assetsDir: string;
}

export type { ConsoleSessionOptions };

/** The console's parts, made from the connections ingest already holds; `close` stops its re-drive jobs. */
export function consoleFrom(
  config: Readonly<IngestConfig>,
  io: { readonly redis: Redis; readonly db: Db; readonly sql: Sql; readonly journal: Journal; readonly lanes: LaneWriter; readonly statistics: LaneStatistics; readonly egress: EgressChecks; readonly tenants: TenantCache; readonly renderer: TemplateRenderer; readonly logger: Logger },
): { readonly deps: ConsoleDeps; close(): Promise<void> } {
  const prefix = config.redisPrefix;
  const deadLetters = new DeadLetterStream(io.redis, { prefix });
  const redriver = new Redriver(io.journal, io.lanes);
  const jobs = new RedriveJobs(
    io.redis,
    (options, progress, pacer) => replayDeadLetters({ stream: deadLetters, journal: io.journal, redriver }, options, progress, pacer),
    io.logger,
    { prefix },
  );
  const deps: ConsoleDeps = {
    sql: io.sql,
    journal: io.journal,
    callbacks: new CallbackStore(io.db),
    sessions: new ConsoleSessions(io.redis, io.tenants, {
      prefix,
      idleSeconds: config.consoleSessionIdleSeconds,
      maxSeconds: config.consoleSessionMaxSeconds,
      secureCookie: config.consoleSecureCookie,
    }),
    renderer: io.renderer,
    assetsDir: consoleAssetsDir,
    inspector: new QueueInspector(io.redis, io.statistics),
    heartbeats: new ReplicaHeartbeats(io.redis, { prefix }),
    prometheus: config.prometheusUrl === undefined ? undefined : { url: config.prometheusUrl, selector: config.consolePrometheusSelector },
    metricsTenantLabel: config.metricsTenantLabel,
    egress: io.egress,
    deadLetters,
    redriver,
    jobs,
    logger: io.logger,
  };
  return { deps, close: () => jobs.close() };
}

/** Longest provider request or response body a message page shows, characters. */
const MAX_EXCHANGE_BODY = 16_384;

/**
 * The operator console under /console: the page (index.html for every path that is not
 * an asset, so the page's own router takes deep links) and its JSON API under
 * /console/api. The API answers what the page shows, through the same functions and
 * handlers as /v1 and /v1/admin, and the same error registry. A tenant's admin key sees
 * its own tenant only, whatever `?tenant=` names; an operator key sees every tenant.
 */
export function consoleRoutes(deps: ConsoleDeps, parseJson: RequestHandler[]): Router {
  const router = express.Router();
  const api = express.Router();
  api.use((_req, res, next) => {
    res.set('cache-control', 'no-store');
    next();
  });
  const { routes: session, requireSession } = sessionRoutes(deps.sessions, parseJson);
  api.use(session);
  api.use(requireSession);

  api.get('/tenants', async (_req, res) => {
    const principal = principalOf(res);
    if (!principal.operator) {
      res.json({ tenants: [{ id: principal.tenant.id, name: principal.tenant.name }] });
      return;
    }
    const page = await listTenants(deps.sql, { limit: 1000 });
    res.json({ tenants: page.tenants.map((t) => ({ id: t.id, name: t.name })), more: page.nextAfter !== null });
  });

  const tenantScoped = scopeTenant(deps.sql, true);
  api.get('/messages', scopeTenant(deps.sql, false), async (req, res) => {
    const principal = principalOf(res);
    const query = parseListQuery(req.query);
    let tenantId = scopeOf(res);
    if (tenantId === undefined) {
      // An operator searching every tenant by batch: the batch names its tenant.
      if (query.batchId === undefined) throw new ValidationError([{ path: '/tenant', message: 'is required unless batch_id is given: pick a tenant to search' }]);
      tenantId = (await deps.journal.findBatch(query.batchId))?.tenant_id;
    }
    const page = tenantId === undefined ? { messages: [], nextAfter: null } : await deps.journal.listMessages(tenantId, query);
    const mask = shownTo(principal);
    res.json({ tenant: tenantId ?? null, messages: page.messages.map((m) => mask(summaryView(m))), next_after: page.nextAfter });
  });

  api.get('/messages/:id', async (req, res) => {
    const principal = principalOf(res);
    const id = typeof req.params['id'] === 'string' ? req.params['id'] : '';
    // An operator finds a message of any tenant by its id alone; an admin its own only.
    const message = principal.operator ? ((await deps.journal.findMessages([id]))[0] ?? null) : await deps.journal.findMessage(principal.tenant.id, id);
    if (message === null) throw new NotFoundError('message');
    const [exchanges, callbacks] = await Promise.all([deps.journal.findProviderExchanges(id), deps.callbacks.forMessage(id)]);
    const mask = shownTo(principal);
    res.json({
      message: mask({ tenant_id: message.tenant_id, ...messageView(message), content: message.content }),
      exchanges: exchanges.sort((a, b) => a.started_at.getTime() - b.started_at.getTime()).map((exchange) => exchangeView(exchange, message, principal)),
      callbacks: callbacks.map((callback) => mask(callbackView(callback))),
    });
  });

  // The strategies pages: the admin API's own handlers for the tenant in scope.
  const strategies = strategyHandlers(deps.sql);
  api.get('/strategies', tenantScoped, strategies.list);
  api.get('/strategies/:name', tenantScoped, strategies.show);
  api.get('/strategies/:name/versions', tenantScoped, strategies.versions);
  api.get('/strategies/:name/diff', tenantScoped, strategies.diff);
  api.post('/strategies/:name/rollback', tenantScoped, ...parseJson, strategies.rollback);

  // The templates pages, likewise; a preview renders in ingest's bounded render worker.
  const templates = templateHandlers(deps.sql, deps.renderer);
  api.get('/templates', tenantScoped, templates.list);
  api.get('/templates/:name', tenantScoped, templates.show);
  api.get('/templates/:name/versions', tenantScoped, templates.versions);
  api.get('/templates/:name/diff', tenantScoped, templates.diff);
  api.post('/templates/:name/preview', tenantScoped, ...parseJson, templates.preview);
  api.post('/templates/:name/rollback', tenantScoped, ...parseJson, templates.rollback);

  api.use(providerConsoleRoutes(deps, tenantScoped));
  api.use(queueConsoleRoutes(deps, scopeTenant(deps.sql, false), parseJson));
  api.use((_req, _res, next) => next(new NotFoundError('route')));
  api.use(journalUnavailable);

  router.use('/api', api);
  router.use(pageRoutes(deps.assetsDir));
  return router;
}

/** A row of the search results. */
function summaryView(message: Message): Record<string, unknown> {
  return {
    id: message.id,
    tenant_id: message.tenant_id,
    batch_id: message.batch_id,
    status: message.status,
    channel: message.channel,
    priority: message.priority,
    recipient: message.recipient,
    tags: message.tags,
    strategy: message.strategy,
    strategy_version: message.strategy_version,
    provider: message.provider,
    created_at: message.created_at,
  };
}

/**
 * One provider exchange that carried the message, bodies as sent and received (cut at
 * MAX_EXCHANGE_BODY). Masked field by field where the body is JSON, by shape in free text,
 * and the message's own recipient wherever it appears (a form-encoded body hides the
 * `+` of a number as `%2B`); a form body's other numbers of a batch are not found.
 */
function exchangeView(exchange: ProviderExchange, message: Message, principal: ConsolePrincipal): Record<string, unknown> {
  const index = exchange.message_ids.indexOf(message.id);
  const body = (text: string) => {
    const cut = text.length > MAX_EXCHANGE_BODY ? text.slice(0, MAX_EXCHANGE_BODY) : text;
    const masked = String(shownTo(principal)(cut));
    return { text: principal.pii ? masked : hideRecipient(masked, message), truncated: text.length > MAX_EXCHANGE_BODY, length: text.length };
  };
  return {
    id: exchange._id,
    provider: exchange.provider,
    started_at: exchange.started_at,
    duration_ms: exchange.duration_ms,
    http_status: exchange.http_status ?? null,
    outcome: exchange.outcome,
    messages: exchange.message_ids.length,
    provider_message_id: index < 0 ? null : (exchange.provider_message_ids?.[index] ?? null),
    request: body(exchange.request),
    response: body(exchange.response),
  };
}

function hideRecipient(text: string, message: Message): string {
  let out = text;
  const phone = message.recipient.phone;
  if (phone !== undefined) {
    const masked = String(MASKED(phone, 'phone'));
    for (const form of new Set([phone, encodeURIComponent(phone), phone.replace(/^\+/, '')])) if (form.length >= 6) out = out.replaceAll(form, masked);
  }
  const email = message.recipient.email;
  if (email !== undefined) for (const form of new Set([email, encodeURIComponent(email)])) out = out.replaceAll(form, String(MASKED(email, 'email')));
  return out;
}

function callbackView(callback: CallbackRecord): Record<string, unknown> {
  return {
    event_id: callback._id,
    seq: callback.seq,
    // A message's callbacks are status callbacks; an inbound message's callback has no status.
    status: 'status' in callback.payload ? callback.payload.status : null,
    state: callback.state,
    url: callback.url ?? null,
    created_at: callback.created_at,
    next_attempt_at: callback.next_attempt_at,
    attempts: callback.attempts,
  };
}

/**
 * The page: hashed assets kept a year by browsers, index.html for every other path and
 * never cached (so a new build is picked up), with a Content-Security-Policy that lets
 * it load nothing from anywhere but this origin.
 */
function pageRoutes(assetsDir: string): Router {
  const router = express.Router();
  const index = join(assetsDir, 'index.html');
  router.use(
    '/assets',
    express.static(join(assetsDir, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: false }),
  );
  router.get(/.*/, (_req, res) => {
    if (!existsSync(index)) throw new DependencyUnavailableError('the console page (not built: run `npm run build:console`)');
    res.set({
      'content-security-policy':
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    res.sendFile(index);
  });
  return router;
}
