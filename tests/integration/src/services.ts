// Starts the tiers in this test process against the stack, each test with its own
// Redis prefix, MongoDB database and PostgreSQL database.
import type { Db } from 'mongodb';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import {
  ensureSandboxRouting,
  ensureTenantWithKey,
  generateApiKey,
  type SandboxRoutingOptions,
} from '@commstrat/config';
import { loadDispatcherConfig, startDispatcher, type RunningDispatcher } from '@commstrat/dispatcher';
import { loadIngestConfig, startIngest, type RunningIngest } from '@commstrat/ingest';
import { createLogger, createRegistry } from '@commstrat/observability';
import { TestLanes } from './test-lanes.ts';
import { Journal } from '@commstrat/journal';
import type { Sql } from 'postgres';
import { createSandboxApp, type SandboxBehaviour } from '@commstrat/sandbox';
import { Cleanup, eventually, testMongo, testPostgres, testRedis, type Owner, allowEntries } from './harness.ts';

const quietLogger = () => createLogger({ service: 'test', console: false });

export interface RunningSandbox {
  readonly url: string;
  readonly token: string;
  readonly received: ReturnType<typeof createSandboxApp>['received'];
}

/** Changes how a sandbox behaves (latency, 503 rate, account rate, batch size). */
export async function setSandboxBehaviour(sandbox: RunningSandbox, behaviour: Partial<SandboxBehaviour>): Promise<void> {
  const response = await fetch(`${sandbox.url}/_sandbox/behaviour`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(behaviour),
  });
  if (!response.ok) throw new Error(`sandbox refused ${JSON.stringify(behaviour)}: ${await response.text()}`);
}

export async function startSandbox(
  behaviour: Partial<SandboxBehaviour> = {},
  owner: Owner = after,
): Promise<RunningSandbox> {
  const token = 'test-token';
  const { app, received, receipts } = createSandboxApp({ token, registry: createRegistry('sandbox'), behaviour });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  owner(async () => {
    receipts.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token, received };
}

/**
 * Every port of 127.0.0.1, for DeploymentOptions.egressAllow: what a test gives a
 * deployment that calls listeners it starts later (backup sandboxes, callback receivers,
 * webhook endpoints, Mailpit). Never the default: the egress policy refuses loopback.
 */
export const LOOPBACK = 'http://127.0.0.1';

export interface Deployment {
  readonly ingest: RunningIngest;
  readonly dispatcher: RunningDispatcher | undefined;
  readonly sandbox: RunningSandbox;
  readonly apiKey: string;
  readonly tenantId: string;
  /** Calls the ingest API as the test tenant. */
  api: ApiCall;
  /** Registers another tenant on the same deployment; returns how to call the API as it. */
  addTenant(id: string): Promise<ApiCall>;
  /** The environment the deployment's processes were configured from. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Starts another ingest replica on this deployment. */
  startIngest(env?: Record<string, string>): Promise<RunningIngest>;
  /** Starts a(nother) dispatcher replica on this deployment. */
  startDispatcher(env?: Record<string, string>, options?: { clock?: () => number }): Promise<RunningDispatcher>;
  /** The deployment's lanes, for tests to inspect. */
  readonly lanes: TestLanes;
  /** The deployment's journal, for tests to inspect, and the database it is kept in. */
  readonly journal: Journal;
  readonly db: Db;
  /** The deployment's PostgreSQL database, for tests that change configuration. */
  readonly sql: Sql;
}

// Test bodies are whatever the API answered; tests assert on their shape.
type ApiCall = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

function apiClient(baseUrl: string, apiKey: string): ApiCall {
  return async (method, path, body, headers = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
}

/** ingest + dispatcher + sandbox, in process, isolated from every other test. */
export interface DeploymentOptions {
  /** Start a dispatcher replica at once. Default true. */
  readonly dispatcher?: boolean;
  /** Environment of the processes, over the stack's. */
  readonly env?: Record<string, string>;
  /** The sandbox provider as the tenant's PostgreSQL config describes it (rate, batch, linger). */
  readonly routing?: Partial<SandboxRoutingOptions>;
  /** URLs of local listeners (callback receivers, webhook endpoints) the egress policy lets the deployment call, besides its sandbox. */
  readonly egressAllow?: readonly string[];
}

export async function startDeployment(options: DeploymentOptions = {}): Promise<Deployment> {
  const cleanup = new Cleanup();
  const [{ prefix, redis }, mongo, pg, sandbox] = await Promise.all([
    testRedis(cleanup.own),
    testMongo(cleanup.own),
    testPostgres(cleanup.own),
    startSandbox({}, cleanup.own),
  ]);
  const apiKey = generateApiKey();
  const tenantId = 'acme';
  await ensureTenantWithKey(pg.sql, { id: tenantId, name: 'Acme' }, apiKey);
  const routing = { endpoint: sandbox.url, token: sandbox.token, ...options.routing };
  await ensureSandboxRouting(pg.sql, tenantId, routing);
  const env = {
    ...process.env,
    INGEST_PORT: '0',
    DISPATCHER_PORT: '0',
    COMMSTRAT_REDIS_PREFIX: prefix,
    COMMSTRAT_MONGO_URL: mongo.url,
    COMMSTRAT_POSTGRES_URL: pg.url,
    COMMSTRAT_SANDBOX_URL: sandbox.url,
    SANDBOX_TOKEN: sandbox.token,
    DISPATCHER_BLOCK_MS: '100',
    // Kafka intake stays off unless a test asks for it with its own topic.
    INGEST_KAFKA_ENABLED: 'false',
    // The egress policy refuses loopback: the deployment's own sandbox is allowed, and a
    // test that calls other local listeners names them (options.egressAllow).
    COMMSTRAT_EGRESS_ALLOW: allowEntries(sandbox.url, ...(options.egressAllow ?? [])),
    ...options.env,
  };
  const startIngestReplica = async (extra: Record<string, string> = {}) => {
    const replica = await startIngest(loadIngestConfig({ ...env, ...extra }), { logger: quietLogger() });
    // Named, so a close that hangs is reported by which tier it is (see Cleanup).
    const closeIngestReplica = () => replica.close();
    cleanup.own(closeIngestReplica);
    return replica;
  };
  const ingest = await startIngestReplica();
  const startReplica = async (extra: Record<string, string> = {}, replicaOptions: { clock?: () => number } = {}) => {
    const replica = await startDispatcher(loadDispatcherConfig({ ...env, ...extra }), {
      logger: quietLogger(),
      ...replicaOptions,
    });
    const closeDispatcherReplica = () => replica.close();
    cleanup.own(closeDispatcherReplica);
    return replica;
  };
  const dispatcher = options.dispatcher === false ? undefined : await startReplica();
  return {
    ingest,
    dispatcher,
    sandbox,
    apiKey,
    tenantId,
    api: apiClient(ingest.url, apiKey),
    env,
    startIngest: startIngestReplica,
    startDispatcher: startReplica,
    lanes: new TestLanes(redis, { prefix }),
    journal: new Journal(mongo.db),
    db: mongo.db,
    sql: pg.sql,
    async addTenant(id) {
      const key = generateApiKey();
      await ensureTenantWithKey(pg.sql, { id, name: id }, key);
      await ensureSandboxRouting(pg.sql, id, routing);
      return apiClient(ingest.url, key);
    },
  };
}

/**
 * Runs a tier as the real process (`node apps/<app>/src/main.ts`), for tests that kill
 * it. Its output is discarded and GELF is off; a process still running when the test
 * ends is killed, so a failing test leaves no orphan.
 */
export function spawnApp(
  app: 'ingest' | 'dispatcher',
  env: Readonly<Record<string, string | undefined>>,
): { child: ChildProcess; exited: Promise<unknown[]> } {
  const child = spawn(process.execPath, [`apps/${app}/src/main.ts`], {
    cwd: new URL('../../../', import.meta.url),
    env: { ...env, COMMSTRAT_GELF_HOST: '' },
    stdio: 'ignore',
  });
  const exited = once(child, 'exit');
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, exited };
}

/**
 * Waits until the deployment's ingest and dispatcher both serve configuration read from
 * PostgreSQL after `since` (ms): a change committed before then (and its NOTIFY) has
 * reached them. Read from each tier's `commstrat_config_age_seconds`, the age of the
 * oldest snapshot it serves, which is taken before its query runs.
 */
export async function untilConfigReloaded(deployment: Pick<Deployment, 'ingest' | 'dispatcher'>, since: number): Promise<void> {
  const urls = [deployment.ingest.url, ...(deployment.dispatcher === undefined ? [] : [deployment.dispatcher.url])];
  await eventually(
    'every tier to serve the changed configuration',
    async () => {
      for (const url of urls) {
        const text = await (await fetch(`${url}/metrics`)).text();
        const age = Number(/^commstrat_config_age_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]);
        if (!(age * 1000 < Date.now() - since)) return undefined;
      }
      return true;
    },
    15_000,
    50,
  );
}
