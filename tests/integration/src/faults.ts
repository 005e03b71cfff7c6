// What the fault tests share: private servers a test may kill and restart (never the
// stack's, which other tests use at the same time), a TCP proxy that cuts a server off,
// a traffic generator that records what producers were told, and the ledger at the end.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { explainDuplicates, explainReport, formatReport, settle, type LedgerReport } from '../../../scripts/reliability/ledger.ts';
import { eventually, type Owner } from './harness.ts';
import type { Deployment } from './services.ts';

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server process of the test's own, on a free port, with its data in a temp dir. */
export interface PrivateServer {
  readonly url: string;
  /** kill -9, then start again on the same port and data. */
  restart(downMs?: number): Promise<void>;
  kill(): Promise<void>;
  start(): Promise<void>;
  /** kill -STOP for `ms`, then kill -CONT: the server hangs, its connections stay open. */
  pause(ms: number): Promise<void>;
}

function privateServer(
  name: string,
  command: (port: number, dir: string) => [string, string[]],
  url: (port: number) => string,
  ready: (port: number) => Promise<boolean>,
  port: number,
  owner: Owner = after,
): PrivateServer {
  const dir = mkdtempSync(join(tmpdir(), `commstrat-${name}-`));
  let child: ChildProcess | undefined;
  const server: PrivateServer = {
    url: url(port),
    async start() {
      const [file, args] = command(port, dir);
      child = spawn(file, args, { stdio: 'ignore' });
      await eventually(`the private ${name} on port ${port} to answer`, async () => ((await ready(port)) ? true : undefined), 60_000, 100);
    },
    async kill() {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
    async restart(downMs = 500) {
      await server.kill();
      await sleep(downMs);
      await server.start();
    },
    async pause(ms) {
      if (child === undefined) throw new Error(`the private ${name} is not running`);
      child.kill('SIGSTOP');
      try {
        await sleep(ms);
      } finally {
        child.kill('SIGCONT');
      }
    },
  };
  owner(async () => {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return server;
}

/** redis-server with AOF on (fsync every second, as deploy/ configures it). */
export async function privateRedis(): Promise<PrivateServer> {
  const port = await freePort();
  const server = privateServer(
    'redis',
    (p, dir) => ['redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '']],
    (p) => `redis://127.0.0.1:${p}`,
    async (p) => {
      const client = new Redis(p, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {}); // a refused probe is the answer "not yet", not a fault
      try {
        await client.connect();
        // Loading the AOF answers LOADING: not ready yet.
        return (await client.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        client.disconnect();
      }
    },
    port,
  );
  await server.start();
  return server;
}

/** The stack's SecantusDB build (scripts/stack builds it into the cache). */
export function secantusdbBinary(): string {
  return join(homedir(), '.cache/commstrat/secantusdb-0.5.3-beta.196/bin/secantusd-rs');
}

/** A SecantusDB of the test's own (one-node replica set, as the stack's). */
export async function privateMongo(): Promise<PrivateServer> {
  const port = await freePort();
  const server = privateServer(
    'mongodb',
    // --sync-on-commit as the stack runs it: an acknowledged write survives the kill -9
    // (without it SecantusDB's log reaches the disk only in the background).
    (p, dir) => [
      secantusdbBinary(),
      ['--host', '127.0.0.1', '--port', String(p), '--storage-path', join(dir, 'data'), '--cache-size', '256M', '--sync-on-commit'],
    ],
    (p) => `mongodb://127.0.0.1:${p}/commstrat`,
    async (p) => {
      const client = new MongoClient(`mongodb://127.0.0.1:${p}/?directConnection=true`, { serverSelectionTimeoutMS: 500 });
      try {
        await client.connect();
        await client.db('admin').command({ ping: 1 });
        return true;
      } catch {
        return false;
      } finally {
        await client.close();
      }
    },
    port,
  );
  await server.start();
  return server;
}

/**
 * A TCP proxy in front of a server. `cut()` destroys every connection and refuses new
 * ones (each is reset at once) until `restore()`: the server is unreachable, as behind a
 * failed network link, while it keeps running for everyone else.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private cutOff = false;

  private constructor(targetHost: string, targetPort: number, delayMs: number) {
    this.server = createServer((client) => {
      if (this.cutOff) {
        client.resetAndDestroy();
        return;
      }
      const upstream = createConnection(targetPort, targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      // Every answer held back by the same delay keeps the byte order: a slow server.
      if (delayMs === 0) upstream.pipe(client);
      else upstream.on('data', (chunk: Buffer) => setTimeout(() => client.destroyed || client.write(chunk), delayMs));
    });
  }

  /** `delayMs` holds back every answer of the server that long (default 0). */
  static async start(targetHost: string, targetPort: number, delayMs = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort, delayMs);
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    after(async () => {
      proxy.cut();
      await new Promise((resolve) => proxy.server.close(resolve));
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
  }

  restore(): void {
    this.cutOff = false;
  }
}

export interface Traffic {
  /** Ids of messages answered 202, and the other answers' statuses by count. */
  readonly accepted: string[];
  readonly refused: Map<number | string, number>;
  stop(): Promise<void>;
}

const priorities = ['critical', 'high', 'normal', 'bulk'] as const;

/**
 * REST traffic until stopped: every `everyMs` one single message or a batch of 5, over
 * all four lanes. Records what each producer was told; a refused or unanswered request
 * (the fault) is not accepted, and the producer of a real service would send it again.
 */
export function startTraffic(baseUrl: string, apiKey: string, options: { everyMs?: number; extra?: object } = {}): Traffic {
  const accepted: string[] = [];
  const refused = new Map<number | string, number>();
  const inFlight = new Set<Promise<void>>();
  let running = true;
  let n = 0;
  const item = () => ({
    channel: 'sms',
    recipient: { phone: '+79161234567' },
    content: { text: `traffic ${n}` },
    priority: priorities[n % 4],
    ...options.extra,
  });
  const send = async (): Promise<void> => {
    n += 1;
    const batch = n % 3 === 0;
    const body = batch ? { messages: Array.from({ length: 5 }, item) } : item();
    try {
      const response = await fetch(`${baseUrl}/v1/messages${batch ? '/batch' : ''}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const answer = (await response.json()) as { id?: string; accepted?: { id: string }[] };
      if (response.status !== 202) refused.set(response.status, (refused.get(response.status) ?? 0) + 1);
      else if (batch) accepted.push(...(answer.accepted ?? []).map((entry) => entry.id));
      else if (answer.id !== undefined) accepted.push(answer.id);
    } catch (error) {
      const name = error instanceof Error ? error.name : 'error';
      refused.set(name, (refused.get(name) ?? 0) + 1);
    }
  };
  const loop = (async () => {
    while (running) {
      const request = send();
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      await sleep(options.everyMs ?? 20);
    }
  })();
  return {
    accepted,
    refused,
    async stop() {
      running = false;
      await loop;
      // Each request gives up after 15 s; a bound here too, so that a request the
      // server never answers cannot hold the test: it was never accepted.
      let waited: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => (waited = setTimeout(resolve, 20_000)));
      await Promise.race([Promise.all([...inFlight]), limit]);
      clearTimeout(waited);
      if (inFlight.size > 0) refused.set('unanswered', inFlight.size);
    },
  };
}

/**
 * Settles the run and returns the ledger; `mongoUrl`/`redisUrl` name the deployment's
 * servers when a test gave it private ones.
 */
export async function ledgerOf(
  deployment: Deployment,
  accepted: { rest?: readonly string[]; kafkaBatchIds?: readonly string[] },
  options: { timeoutMs?: number; duplicateBound?: number; redisUrl?: string; mongoUrl?: string; kafkaBatchIds?: string[] } = {},
): Promise<LedgerReport> {
  const redis = new Redis(options.redisUrl ?? String(deployment.env['COMMSTRAT_REDIS_URL']), { maxRetriesPerRequest: 2 });
  const mongo = options.mongoUrl === undefined ? undefined : await new MongoClient(options.mongoUrl).connect();
  try {
    const report = await settle(
      {
        db: mongo?.db() ?? deployment.db,
        redis,
        prefix: String(deployment.env['COMMSTRAT_REDIS_PREFIX']),
        accepted: { rest: accepted.rest ?? [], kafkaBatchIds: accepted.kafkaBatchIds ?? [] },
        arrivals: () => Promise.resolve(deployment.sandbox.received.list({})),
        duplicateBound: options.duplicateBound ?? 0,
      },
      options.timeoutMs ?? 60_000,
    );
    console.log(formatReport(report));
    // A failed verdict carries its own evidence: each lost or stuck message's journal
    // document, request, lane entries with their consumer-group state, guard and markers.
    const db = mongo?.db() ?? deployment.db;
    if (!report.ok) console.log(await explainReport({ db, redis, prefix: String(deployment.env['COMMSTRAT_REDIS_PREFIX']) }, report));
    if (report.duplicates.length > 0) console.log(await explainDuplicates(db, report, deployment.sandbox.received.list({})));
    return report;
  } finally {
    redis.disconnect();
    await mongo?.close();
  }
}

/** The ledger's verdict as one assertion message. */
export function verdict(report: LedgerReport): string {
  return formatReport(report);
}

/**
 * How long the slow faults last. PostgreSQL is unreachable for a minute by default (the
 * issue's figure); COMMSTRAT_FAULT_POSTGRES_OUTAGE_MS shortens it for a quick local run.
 */
export function faultDurations(): { postgresOutageMs: number } {
  const text = process.env['COMMSTRAT_FAULT_POSTGRES_OUTAGE_MS'];
  const postgresOutageMs = text === undefined || text === '' ? 60_000 : Number(text);
  if (!Number.isInteger(postgresOutageMs) || postgresOutageMs < 0) {
    throw new Error(`COMMSTRAT_FAULT_POSTGRES_OUTAGE_MS must be a whole number of ms, got ${text}`);
  }
  return { postgresOutageMs };
}

/**
 * A one-node KRaft Kafka broker of the test's own, from the jars scripts/stack fetched
 * (a JVM: about 15 s to start here). A TCP proxy cannot stand in for a broker restart:
 * clients connect to the address the broker advertises, not to the proxy's. `owner`
 * stops it: it must outlive the Kafka clients of the deployment, whose disconnect
 * otherwise retries against a dead broker.
 */
export async function privateKafka(owner: Owner = after): Promise<PrivateServer & { readonly broker: string }> {
  const [port, controllerPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'commstrat-kafka-'));
  const libs = join(homedir(), '.cache/commstrat/kafka-4.4.0/libs/*');
  const properties = join(dir, 'server.properties');
  writeFileSync(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=3',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'group.initial.rebalance.delay.ms=0',
    ].join('\n'),
  );
  const java = ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', libs];
  // A static quorum (controller.quorum.voters), as scripts/stack formats its broker: the
  // storage tool refuses --standalone with it.
  const format = spawnSync('java', [...java, 'kafka.tools.StorageTool', 'format', `--cluster-id=${randomKafkaClusterId()}`, '-c', properties], { encoding: 'utf8' });
  if (format.status !== 0) throw new Error(`kafka storage format failed: ${format.stderr}`);
  const server = privateServer(
    'kafka',
    () => ['java', [...java, 'kafka.Kafka', properties]],
    () => `127.0.0.1:${port}`,
    async (p) => {
      const socket = createConnection(p, '127.0.0.1');
      const connected = await Promise.race([once(socket, 'connect').then(() => true), once(socket, 'error').then(() => false)]);
      socket.destroy();
      return connected;
    },
    port,
    (dispose) => {
      owner(async () => {
        await dispose();
        rmSync(dir, { recursive: true, force: true });
      });
    },
  );
  await server.start();
  return { ...server, broker: `127.0.0.1:${port}` };
}

/**
 * A KRaft cluster id: 16 random bytes, URL-safe base64 without padding. Passed as
 * `--cluster-id=<id>`: one id in 64 starts with `-`, which as a separate argument reads as
 * an option (Kafka's own `random-uuid` never makes such an id, but costs a JVM start).
 */
function randomKafkaClusterId(): string {
  return randomBytes(16).toString('base64url');
}
