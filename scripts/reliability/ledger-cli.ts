// `scripts/ledger`: the ledger of one run, from the command line. Reads the accepted-ids
// file a load generator wrote, the journal, Redis and the sandbox providers; prints the
// report (or JSON) and exits 1 when anything was lost or stuck or duplicated past the bound.
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { fetchSandboxArrivals, formatReport, readAcceptedLog, settle } from './ledger.ts';
import { DEFAULT_REDIS_PREFIX } from '@commstrat/core';

const usage = `usage: scripts/ledger --accepted FILE --mongo URL --redis URL [--prefix P] --sandbox URL... [options]
  --accepted FILE        accepted ids, one JSON object a line: {"rest": id} or {"kafka": batch id}
  --mongo URL            the journal's database (mongodb://host:port/<database>)
  --redis URL            the deployment's Redis; --prefix its key prefix (default commstrat:)
  --sandbox URL          a sandbox provider's base URL (repeat for several)
  --wait SECONDS         wait this long for in-flight messages to finish (default 0)
  --duplicate-bound N    extra provider arrivals allowed (the at-least-once bound; default 0)
  --json                 print the report as JSON`;

function fail(message: string): never {
  process.stderr.write(`ledger: ${message}\n${usage}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        accepted: { type: 'string' },
        mongo: { type: 'string' },
        redis: { type: 'string' },
        prefix: { type: 'string', default: DEFAULT_REDIS_PREFIX },
        sandbox: { type: 'string', multiple: true, default: [] },
        wait: { type: 'string', default: '0' },
        'duplicate-bound': { type: 'string', default: '0' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const required = (name: 'accepted' | 'mongo' | 'redis'): string => values[name] ?? fail(`--${name} is required`);
const wholeNumber = (name: string, text: string): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) fail(`--${name} must be a whole number >= 0, got ${text}`);
  return value;
};
const waitSeconds = wholeNumber('wait', values.wait);
const duplicateBound = wholeNumber('duplicate-bound', values['duplicate-bound']);
const accepted = (() => {
  try {
    return readAcceptedLog(required('accepted'));
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();

const mongo = new MongoClient(required('mongo'), { serverSelectionTimeoutMS: 5000 });
const redis = new Redis(required('redis'), { lazyConnect: true, maxRetriesPerRequest: 1 });
try {
  await mongo.connect();
  await redis.connect();
  const report = await settle(
    {
      db: mongo.db(),
      redis,
      prefix: values.prefix,
      accepted,
      duplicateBound,
      arrivals: async () => (await Promise.all(values.sandbox.map(fetchSandboxArrivals))).flat(),
    },
    waitSeconds * 1000,
  );
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  process.exitCode = report.ok ? 0 : 1;
} finally {
  await mongo.close();
  redis.disconnect();
}
