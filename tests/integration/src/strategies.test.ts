import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotFoundError, ValidationError } from '@commstrat/core';
import {
  ensureStrategy,
  findDefaultStrategy,
  findStrategy,
  listProviders,
  saveStrategy,
  upsertProvider,
  type ProviderInput,
} from '@commstrat/config';
import type { Sql } from 'postgres';
import { testPostgres } from './harness.ts';

const sandbox: ProviderInput = {
  id: 'sandbox-sms',
  kind: 'http-sms',
  endpoint: 'http://127.0.0.1:8082',
  credentials: { token: 'sandbox-token' },
  ratePerSecond: 1000,
  concurrency: 4,
  maxBatchSize: 100,
  lingerMs: 50,
  timeoutMs: 10_000,
};

function smsStrategy(name: string, providers: string[], ttl = 86_400) {
  return {
    name,
    channel: 'sms',
    steps: [{ route: { mode: 'failover', providers }, ttl_seconds: ttl }],
  };
}

/** A fresh database with tenants `acme` and `globex`, each with the sandbox provider. */
async function setup(): Promise<Sql> {
  const { sql } = await testPostgres();
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('globex', 'Globex')`;
  await upsertProvider(sql, 'acme', sandbox);
  await upsertProvider(sql, 'acme', { ...sandbox, id: 'backup-sms' });
  await upsertProvider(sql, 'globex', sandbox);
  return sql;
}

function pathsOf(error: unknown): string[] {
  assert.ok(error instanceof ValidationError, String(error));
  return error.problems.map((p) => p.path);
}

test('each save of a strategy adds a version and findStrategy returns the newest', async () => {
  const sql = await setup();
  const first = await saveStrategy(sql, 'acme', smsStrategy('otp', ['sandbox-sms'], 300));
  const second = await saveStrategy(
    sql,
    'acme',
    smsStrategy('otp', ['backup-sms', 'sandbox-sms'], 600),
  );
  assert.equal(first.version, 1);
  assert.equal(second.version, 2);

  const newest = await findStrategy(sql, 'acme', 'otp');
  assert.equal(newest?.version, 2);
  assert.deepEqual(newest?.strategy, smsStrategy('otp', ['backup-sms', 'sandbox-sms'], 600));
  assert.equal((await findStrategy(sql, 'acme', 'otp', 1))?.strategy.steps[0]?.ttl_seconds, 300);
  assert.equal(await findStrategy(sql, 'acme', 'missing'), null);
  assert.equal(await findStrategy(sql, 'globex', 'otp'), null, 'another tenant sees none');
});

test('the default strategy of a channel is found, and moves when another takes over', async () => {
  const sql = await setup();
  assert.equal(await findDefaultStrategy(sql, 'acme', 'sms'), null);
  await saveStrategy(sql, 'acme', smsStrategy('sms-default', ['sandbox-sms']), {
    defaultForChannel: true,
  });
  await saveStrategy(sql, 'acme', smsStrategy('promo', ['sandbox-sms']));
  assert.equal((await findDefaultStrategy(sql, 'acme', 'sms'))?.strategy.name, 'sms-default');
  assert.equal(await findDefaultStrategy(sql, 'acme', 'email'), null);
  assert.equal(await findDefaultStrategy(sql, 'globex', 'sms'), null);

  // A new version of the default stays the default, and is the version found.
  await saveStrategy(sql, 'acme', smsStrategy('sms-default', ['backup-sms']));
  const found = await findDefaultStrategy(sql, 'acme', 'sms');
  assert.equal(found?.version, 2);
  assert.equal(found?.defaultForChannel, true);

  await saveStrategy(sql, 'acme', smsStrategy('promo', ['backup-sms']), {
    defaultForChannel: true,
  });
  assert.equal((await findDefaultStrategy(sql, 'acme', 'sms'))?.strategy.name, 'promo');
  const flagged = await sql`SELECT name, version FROM strategies WHERE is_default_for_channel`;
  assert.deepEqual([...flagged], [{ name: 'promo', version: 2 }]);
});

test('an invalid strategy is refused with a ValidationError naming the path', async () => {
  const sql = await setup();
  const invalid = {
    ...smsStrategy('bad', ['sandbox-sms']),
    steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, ttl_seconds: -1 }],
  };
  await assert.rejects(saveStrategy(sql, 'acme', invalid), (error) => {
    assert.deepEqual(pathsOf(error), ['/steps/0/ttl_seconds']);
    return true;
  });
  assert.equal(await findStrategy(sql, 'acme', 'bad'), null, 'nothing was stored');
});

test('a strategy routing to a provider the tenant does not have is refused', async () => {
  const sql = await setup();
  await assert.rejects(
    saveStrategy(sql, 'globex', smsStrategy('otp', ['sandbox-sms', 'backup-sms'])),
    (error) => {
      assert.deepEqual(pathsOf(error), ['/steps/0/route/providers/1']);
      return true;
    },
  );
  await assert.rejects(
    saveStrategy(sql, 'nobody', smsStrategy('otp', ['sandbox-sms'])),
    NotFoundError,
  );
});

test('ensureStrategy adds no version when the newest has the same definition', async () => {
  const sql = await setup();
  const options = { defaultForChannel: true };
  await ensureStrategy(sql, 'acme', smsStrategy('sms-default', ['sandbox-sms']), options);
  const again = await ensureStrategy(
    sql,
    'acme',
    smsStrategy('sms-default', ['sandbox-sms']),
    options,
  );
  assert.equal(again.version, 1);
  const changed = await ensureStrategy(sql, 'acme', smsStrategy('sms-default', ['backup-sms']));
  assert.equal(changed.version, 2);
});

test('providers upsert by id within the tenant and list in id order', async () => {
  const sql = await setup();
  await upsertProvider(sql, 'acme', { ...sandbox, ratePerSecond: 50, enabled: false });
  const providers = await listProviders(sql, 'acme');
  assert.deepEqual(
    providers.map((p) => p.id),
    ['backup-sms', 'sandbox-sms'],
  );
  assert.deepEqual(providers[1], { ...sandbox, ratePerSecond: 50, enabled: false, prices: {} });
  assert.equal(
    (await listProviders(sql, 'globex'))[0]?.ratePerSecond,
    1000,
    'other tenant untouched',
  );
  assert.deepEqual(await listProviders(sql, 'initech'), []);
});

test('repeating an unchanged provider upsert writes nothing', async () => {
  const sql = await setup();
  const [before] =
    await sql`SELECT updated_at FROM providers WHERE tenant_id = 'acme' AND id = 'sandbox-sms'`;
  await upsertProvider(sql, 'acme', sandbox);
  const [after] =
    await sql`SELECT updated_at FROM providers WHERE tenant_id = 'acme' AND id = 'sandbox-sms'`;
  assert.deepEqual(after, before);
  const audits = await sql`SELECT count(*)::int AS n FROM audit WHERE action = 'provider.upsert'`;
  assert.equal(audits[0]?.['n'], 3, 'one per provider created in setup');
});

test('a provider with bad limits is refused with a ValidationError naming the fields', async () => {
  const sql = await setup();
  await assert.rejects(
    upsertProvider(sql, 'acme', { ...sandbox, id: 'bad id', concurrency: 0, lingerMs: 1.5 }),
    (error) => {
      assert.deepEqual(pathsOf(error), ['/id', '/concurrency', '/lingerMs']);
      return true;
    },
  );
});

test('a provider keeps a price table per country, and a bad one is refused naming each entry', async () => {
  const sql = await setup();
  await upsertProvider(sql, 'acme', { ...sandbox, prices: { DE: 0.05, '*': 0.08 } });
  const [, stored] = await listProviders(sql, 'acme');
  assert.deepEqual(stored?.prices, { DE: 0.05, '*': 0.08 });
  await assert.rejects(upsertProvider(sql, 'acme', { ...sandbox, prices: { de: 0.05, US: -1 } }), (error) => {
    assert.deepEqual(pathsOf(error), ['/prices/de', '/prices/US']);
    return true;
  });
});

test('a rules route naming a provider the tenant does not have is refused at its path', async () => {
  const sql = await setup();
  const strategy = {
    name: 'by-country',
    channel: 'sms',
    steps: [
      {
        route: {
          mode: 'rules',
          rules: [{ match: { countries: ['DE'] }, route: { mode: 'least_cost', providers: ['sandbox-sms', 'nope'] } }],
          otherwise: { mode: 'weighted', providers: [{ id: 'missing', weight: 1 }] },
        },
      },
    ],
  };
  await assert.rejects(saveStrategy(sql, 'acme', strategy), (error) => {
    assert.deepEqual(pathsOf(error), ['/steps/0/route/rules/0/route/providers/1', '/steps/0/route/otherwise/providers/0/id']);
    return true;
  });
});
