import express, { type RequestHandler, type Router } from 'express';
import { DependencyUnavailableError, NotFoundError, ValidationError } from '@commstrat/core';
import { findProvider, listTenantProviders } from '@commstrat/config';
import type { QueueInspector, ReplicaHeartbeats } from '@commstrat/queue';
import type { Sql } from 'postgres';
import { providerRoutes, providerView } from './admin-provider-routes.ts';
import { fromRedis } from './console-scope.ts';
import { principalOf } from './console-session.ts';
import type { EgressChecks } from './egress-checks.ts';
import { callerOf, pathParam } from './route-support.ts';

/** Where the console reads error classes over time: the stack's Prometheus, which scrapes every dispatcher. */
export interface PrometheusSource {
  /** e.g. http://prometheus:9090 */
  readonly url: string;
  /** Label matchers added to every query, e.g. `job="commstrat-dispatcher"`, so another deployment's series stay out. */
  readonly selector?: string | undefined;
}

export interface ProviderConsoleDeps {
  readonly sql: Sql;
  readonly inspector: Pick<QueueInspector, 'tokenBucketsOf'>;
  readonly heartbeats: Pick<ReplicaHeartbeats, 'list'>;
  /** Unset: the providers page shows health from Redis only, and says why there are no series. */
  readonly prometheus?: PrometheusSource | undefined;
  /** Whether metrics label providers `<tenant>/<provider>` (COMMSTRAT_METRICS_TENANT_LABEL); without, a tenant's series cannot be told apart. */
  readonly metricsTenantLabel: boolean;
  /** The admin API's egress checks, which its provider routes are built with (the console mounts only their reads). */
  readonly egress: EgressChecks;
}

/** The classes the error chart draws, each a per-second rate; `accepted` is the provider taking the message. */
export const OUTCOME_CLASSES = ['accepted', 'rejected', 'error', 'throttled', 'retried', 'failed_over', 'dead_lettered'] as const;

// Each class from the dispatcher's own counters (packages/observability metrics.ts).
const CLASS_SERIES: readonly { readonly metric: string; readonly cls: string | undefined }[] = [
  { metric: 'commstrat_messages_dispatched_total', cls: undefined }, // by its `outcome` label
  { metric: 'commstrat_dispatch_throttled_total', cls: 'throttled' },
  { metric: 'commstrat_dispatch_retries_total', cls: 'retried' },
  { metric: 'commstrat_dispatch_failovers_total', cls: 'failed_over' },
  { metric: 'commstrat_messages_dead_lettered_total', cls: 'dead_lettered' },
];

const MINUTES = [15, 60, 360, 1440];

/**
 * /providers: the tenant's providers with their health as the dispatchers report it —
 * each replica's circuit (its heartbeat in Redis) and the shared token bucket;
 * /providers/:id/metrics: the provider's outcome classes over time from Prometheus;
 * /provider-definitions[/:name[/versions]]: the admin API's own read handlers.
 */
export function providerConsoleRoutes(deps: ProviderConsoleDeps, tenantScoped: RequestHandler): Router {
  const router = express.Router();

  router.get('/providers', tenantScoped, async (_req, res) => {
    const tenantId = callerOf(res).id;
    const [providers, replicas] = await Promise.all([listTenantProviders(deps.sql, tenantId), fromRedis(() => deps.heartbeats.list())]);
    const buckets = new Map((await fromRedis(() => deps.inspector.tokenBucketsOf(providers.map((p) => `${tenantId}/${p.id}`)))).map((b) => [b.provider, b]));
    res.json({
      replicas: replicas.length,
      metrics: metricsAvailability(deps, principalOf(res).operator),
      providers: providers.map((provider) => {
        const key = `${tenantId}/${provider.id}`;
        const circuits = replicas.flatMap((replica) =>
          replica.circuits.filter((circuit) => circuit.provider === key).map((circuit) => ({ replica: replica.consumer, state: circuit.state })),
        );
        const bucket = buckets.get(key);
        return {
          ...providerView(provider),
          health: healthOf(provider.enabled, circuits.map((c) => c.state), replicas.length),
          circuits,
          token_bucket: bucket === undefined ? null : { tokens: bucket.tokens, last_take_at: bucket.lastTakeAt },
        };
      }),
    });
  });

  router.get('/providers/:id/metrics', tenantScoped, async (req, res) => {
    const tenantId = callerOf(res).id;
    const id = pathParam(req, 'id');
    const minutesText = req.query['minutes'] ?? '60';
    const minutes = Number(minutesText);
    if (typeof minutesText !== 'string' || !MINUTES.includes(minutes)) {
      throw new ValidationError([{ path: '/minutes', message: `must be one of ${MINUTES.join(', ')}` }]);
    }
    const provider = await findProvider(deps.sql, tenantId, id);
    if (provider === null) throw new NotFoundError(`provider ${id}`);
    const availability = metricsAvailability(deps, principalOf(res).operator);
    if (deps.prometheus === undefined || !availability.available) {
      res.json({ provider: id, ...availability, series: [] });
      return;
    }
    const label = deps.metricsTenantLabel ? `${tenantId}/${id}` : id;
    const end = Math.floor(Date.now() / 1000);
    // About 180 points a chart: 5 s apart over 15 minutes, 8 minutes over a day.
    const step = Math.max(5, (minutes * 60) / 180);
    const series = await queryRange(deps.prometheus, outcomeQuery(label, deps.prometheus.selector, step), end - minutes * 60, end, step);
    res.json({
      provider: id,
      ...availability,
      rate_per_second: provider.ratePerSecond,
      step_seconds: step,
      from: new Date((end - minutes * 60) * 1000),
      to: new Date(end * 1000),
      series: OUTCOME_CLASSES.map((cls) => ({ class: cls, points: series.get(cls) ?? [] })),
    });
  });

  // The definitions: the admin API's read handlers, for the tenant in scope.
  const definitions = express.Router();
  definitions.use((req, _res, next) => next(req.method === 'GET' && /^\/provider-definitions(\/|$)/.test(req.path) ? undefined : 'router'));
  definitions.use(tenantScoped, providerRoutes(deps.sql, deps.egress, []));
  router.use(definitions);
  return router;
}

/**
 * How healthy a provider looks from here: `disabled`; `unknown` while no dispatcher has
 * reported (none running, or it has not sent through it since it started); `down` when
 * every replica's circuit is open; `degraded` when some are open or probing; else `healthy`.
 */
export function healthOf(enabled: boolean, states: readonly string[], replicas: number): string {
  if (!enabled) return 'disabled';
  if (replicas === 0) return 'unknown';
  if (states.length > 0 && states.every((state) => state === 'open')) return 'down';
  if (states.some((state) => state !== 'closed')) return 'degraded';
  return 'healthy';
}

function metricsAvailability(deps: ProviderConsoleDeps, operator: boolean): { available: boolean; reason?: string } {
  if (deps.prometheus === undefined) return { available: false, reason: 'no Prometheus configured (COMMSTRAT_PROMETHEUS_URL): health comes from the dispatchers\' heartbeats only' };
  // Without the tenant in the label, the series of every tenant's provider of this id are one.
  if (!deps.metricsTenantLabel && !operator) return { available: false, reason: 'metrics carry no tenant (COMMSTRAT_METRICS_TENANT_LABEL=false), so one tenant\'s series cannot be shown' };
  return { available: true };
}

/**
 * One PromQL query for every class: each counter's per-second rate over max(2 steps, 30 s)
 * (two scrapes at Prometheus's 15 s default),
 * summed over replicas, with a `class` label (the dispatched counter's from its outcome).
 * The provider label is a string literal: quotes and backslashes escaped.
 */
export function outcomeQuery(providerLabel: string, selector: string | undefined, stepSeconds: number): string {
  const matcher = `provider="${providerLabel.replace(/[\\"]/g, '\\$&')}"${selector === undefined || selector === '' ? '' : `,${selector}`}`;
  const window = `${Math.max(30, 2 * stepSeconds)}s`;
  return CLASS_SERIES.map(({ metric, cls }) =>
    cls === undefined
      ? `sum by (class) (label_replace(rate(${metric}{${matcher}}[${window}]), "class", "$1", "outcome", "(.+)"))`
      : `sum by (class) (label_replace(rate(${metric}{${matcher}}[${window}]), "class", "${cls}", "__name__", ".*"))`,
  ).join(' or ');
}

/**
 * The series of one range query by class. Prometheus not answering, or answering 5xx, is
 * `503 dependency_unavailable`; a 4xx (`bad_data`: a selector in the configuration it
 * cannot compile) is refused the same way on every retry, so it is a fault of ours, 500.
 */
export async function queryRange(source: PrometheusSource, query: string, start: number, end: number, step: number): Promise<Map<string, [number, number][]>> {
  const url = new URL('/api/v1/query_range', source.url);
  url.search = new URLSearchParams({ query, start: String(start), end: String(end), step: String(step) }).toString();
  let body: { status?: string; error?: string; data?: { result?: { metric: Record<string, string>; values: [number, string][] }[] } };
  let status: number;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    status = response.status;
    body = (await response.json()) as typeof body;
  } catch (cause) {
    throw new DependencyUnavailableError('Prometheus', cause);
  }
  if (status < 200 || status >= 300 || body.status !== 'success') {
    const refused = new Error(`Prometheus answered ${status}: ${body.error ?? 'no error text'}`);
    if (status >= 400 && status < 500) throw refused;
    throw new DependencyUnavailableError('Prometheus', refused);
  }
  const series = new Map<string, [number, number][]>();
  for (const result of body.data?.result ?? []) {
    const cls = result.metric['class'];
    if (cls !== undefined) series.set(cls, result.values.map(([t, v]) => [t * 1000, Number(v)]));
  }
  return series;
}
