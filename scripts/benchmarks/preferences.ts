// `scripts/bench preferences`: what the recipient preference store costs at scale. Fills
// a MongoDB database of the run with N recipients' opt-outs through PreferenceStore.apply
// (10 000 per call, as POST /v1/preferences/batch does), reports its size per recipient,
// then times the dispatcher's lookup of a claimed batch (PreferenceStore.optedOut: 1 000
// addresses, one query) against, in the same run, the floor (one round trip: `ping`) and
// the same query on an empty collection, and the ceiling a per-message lookup would cost
// (1 000 findOne one after the other). Last, the Redis bytes of one provider's delivery
// speed counters. Prints a table and writes every figure to .stack/bench/preferences-<run>.json.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CONTACT_HASH_SECRET, preferenceDigest, type ContactAddress, type PreferenceChange } from '@commstrat/core';
import { PreferenceStore } from '@commstrat/journal';
import { DeliverySpeeds } from '@commstrat/queue';
import { MongoClient, type Db } from 'mongodb';
import { BenchRun } from './bench-run.ts';
import { formatCount, progress } from './progress.ts';
import { writeJson } from './report.ts';
import { stackEnvFrom } from './stack.ts';

const USAGE = `usage: scripts/bench preferences [options]
  --recipients N   recipients with an opt-out stored before the lookups (default 1000000)
  --lookups N      lookups of a batch per mode (default 200)
  --batch N        addresses per lookup, as a claimed batch (default 1000)
  --opted-out S    share of a batch's addresses that are stored (default 0.1)`;

class UsageError extends Error {}

const TENANT = 'bench';
const FILL_CHUNK = 10_000;

/** The i-th recipient's phone: distinct, valid Russian mobile numbers. */
function phone(i: number): ContactAddress {
  return { kind: 'phone', address: `+7916${String(i).padStart(7, '0')}` };
}

interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), mean: sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length) };
}

async function time(rounds: number, call: (round: number) => Promise<unknown>): Promise<Latency> {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    await call(round);
    samples.push(performance.now() - started);
  }
  return latency(samples);
}

async function collectionStats(db: Db, name: string): Promise<Record<string, number> | { unavailable: string }> {
  try {
    const stats = await db.command({ collStats: name });
    return Object.fromEntries(['count', 'size', 'storageSize', 'totalIndexSize'].filter((k) => typeof stats[k] === 'number').map((k) => [k, stats[k] as number]));
  } catch (error) {
    return { unavailable: error instanceof Error ? error.message : String(error) };
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      recipients: { type: 'string', default: '1000000' },
      lookups: { type: 'string', default: '200' },
      batch: { type: 'string', default: '1000' },
      'opted-out': { type: 'string', default: '0.1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const count = (name: 'recipients' | 'lookups' | 'batch'): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a positive integer, got ${String(values[name])}\n${USAGE}`);
    return value;
  };
  const share = Number(values['opted-out']);
  if (!(share >= 0 && share <= 1)) throw new UsageError(`--opted-out must be between 0 and 1\n${USAGE}`);
  const settings = { recipients: count('recipients'), lookups: count('lookups'), batch: count('batch'), optedOutShare: share };

  const stack = stackEnvFrom(process.env);
  const startedAt = new Date();
  const run = await BenchRun.open(stack, startedAt);
  run.closeOnSignal();
  progress(`run ${run.id}: ${formatCount(settings.recipients)} recipients' opt-outs, then lookups of ${formatCount(settings.batch)}`);
  try {
    const database = run.mongoDatabase('preferences');
    const empty = run.mongoDatabase('preferences_empty');
    const client = new MongoClient(database.url, { maxPoolSize: 8 });
    const emptyClient = new MongoClient(empty.url, { maxPoolSize: 2 });
    await Promise.all([client.connect(), emptyClient.connect()]);
    run.defer('MongoDB clients', () => Promise.all([client.close(), emptyClient.close()]));
    const store = new PreferenceStore(client.db(), { secret: DEFAULT_CONTACT_HASH_SECRET });
    const emptyStore = new PreferenceStore(emptyClient.db(), { secret: DEFAULT_CONTACT_HASH_SECRET });
    await emptyStore.apply(TENANT, [{ address: phone(0), channel: 'sms', category: '*', optedOut: true }], 'api', new Date());

    // Fill: every recipient opted out of marketing by SMS, one in ten of everything.
    const fillStarted = performance.now();
    for (let from = 0; from < settings.recipients; from += FILL_CHUNK) {
      const changes: PreferenceChange[] = [];
      for (let i = from; i < Math.min(settings.recipients, from + FILL_CHUNK); i++) {
        changes.push({ address: phone(i), channel: 'sms', category: i % 10 === 0 ? '*' : 'marketing', optedOut: true });
      }
      await store.apply(TENANT, changes, 'api', new Date());
      if ((from / FILL_CHUNK) % 10 === 9) progress(`filled ${formatCount(from + FILL_CHUNK)}`);
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const stats = await collectionStats(client.db(), 'preferences');

    // A claimed batch: `share` of its recipients stored, the rest never opted out.
    const stored = Math.round(settings.batch * settings.optedOutShare);
    const batchOf = (round: number) =>
      Array.from({ length: settings.batch }, (_, i) => ({
        tenantId: TENANT,
        address: i < stored ? phone((round * 7919 + i * 104_729) % settings.recipients) : phone(settings.recipients + round * settings.batch + i),
      }));
    progress('lookups');
    let found = 0;
    const lookup = await time(settings.lookups, async (round) => {
      found += (await store.optedOut(batchOf(round))).size;
    });
    const onEmpty = await time(settings.lookups, (round) => emptyStore.optedOut(batchOf(round)));
    const ping = await time(settings.lookups, () => client.db().command({ ping: 1 }));
    const documents = client.db().collection<{ _id: string }>('preferences');
    const perMessageRounds = Math.max(3, Math.min(10, Math.floor(settings.lookups / 20)));
    const perMessage = await time(perMessageRounds, async (round) => {
      for (const { address } of batchOf(round)) await documents.findOne({ _id: `${TENANT}:${preferenceDigest(DEFAULT_CONTACT_HASH_SECRET, TENANT, address)}` });
    });
    const digestCpu = await time(50, (round) => {
      for (const { address } of batchOf(round)) preferenceDigest(DEFAULT_CONTACT_HASH_SECRET, TENANT, address);
      return Promise.resolve();
    });

    // One provider's delivery speed counters, a full window of buckets.
    const prefix = run.redisPrefix('deliveries');
    const speeds = new DeliverySpeeds(run.redis, { prefix, windowMs: 900_000 });
    const now = Date.now();
    for (let bucket = 0; bucket < 31; bucket++) {
      await speeds.record('bench/sms', Array.from({ length: 100 }, (_, i) => ({ at: now - bucket * 30_000, late: i % 7 === 0 })), now);
    }
    const redisBytes = Number(await run.redis.call('MEMORY', 'USAGE', `${prefix}deliveries:bench/sms`));

    const perRecipient = (field: 'size' | 'storageSize' | 'totalIndexSize') =>
      'unavailable' in stats || stats[field] === undefined ? undefined : stats[field] / settings.recipients;
    const rows: [string, string][] = [
      ['recipients stored', formatCount(settings.recipients)],
      ['fill rate, opt-outs/s (10 000 per apply)', formatCount(settings.recipients / fillSeconds)],
      ['data bytes / recipient (collStats size)', perRecipient('size') === undefined ? 'n/a' : formatCount(perRecipient('size') ?? 0)],
      ['storage bytes / recipient (compressed)', perRecipient('storageSize') === undefined ? 'n/a' : formatCount(perRecipient('storageSize') ?? 0)],
      ['index bytes / recipient (_id)', perRecipient('totalIndexSize') === undefined ? 'n/a' : formatCount(perRecipient('totalIndexSize') ?? 0)],
      [`lookup of ${formatCount(settings.batch)}, ms p50 / p99`, `${lookup.p50.toFixed(2)} / ${lookup.p99.toFixed(2)}`],
      ['  baseline: same on an empty collection', `${onEmpty.p50.toFixed(2)} / ${onEmpty.p99.toFixed(2)}`],
      ['  floor: one round trip (ping)', `${ping.p50.toFixed(2)} / ${ping.p99.toFixed(2)}`],
      [`  ceiling: ${formatCount(settings.batch)} findOne one by one`, `${perMessage.p50.toFixed(1)} / ${perMessage.p99.toFixed(1)}`],
      [`  digests of ${formatCount(settings.batch)} addresses (CPU)`, `${digestCpu.p50.toFixed(2)} / ${digestCpu.p99.toFixed(2)}`],
      ['found per lookup (stored share)', `${(found / settings.lookups).toFixed(0)} of ${formatCount(settings.batch)}`],
      ['Redis bytes, one provider\'s delivery counters (31 buckets)', formatCount(redisBytes)],
    ];
    const width = Math.max(...rows.map(([name]) => name.length));
    process.stdout.write(`${rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n`);
    const file = join(stack.stackDir, 'bench', `preferences-${run.id}.json`);
    writeJson(file, {
      benchmark: 'preferences',
      run: run.id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `scripts/bench preferences ${process.argv.slice(2).join(' ')}`.trim(),
      settings,
      fill: { seconds: fillSeconds, perSecond: settings.recipients / fillSeconds },
      collStats: stats,
      lookupMs: lookup,
      emptyCollectionMs: onEmpty,
      pingMs: ping,
      perMessageFindOneMs: perMessage,
      digestCpuMs: digestCpu,
      foundPerLookup: found / settings.lookups,
      redisBytesDeliveryCounters: redisBytes,
    });
    progress(`results written to ${file}`);
  } finally {
    await run.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof UsageError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
