// An operator moving the messages pinned to one strategy version to another
// (POST /v1/admin/strategies/{name}/move, migration 011). The periodic refresh is set to
// 10 minutes, so only the NOTIFY of the move can explain a replica routing by it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureTenantWithKey, generateApiKey, saveStrategy, upsertProvider } from '@commstrat/config';
import { eventually } from './harness.ts';
import { setSandboxBehaviour, startDeployment, startSandbox, type Deployment, LOOPBACK } from './services.ts';
import { call as callAs } from './admin-support.ts';

interface Sending {
  readonly status: string;
  readonly provider?: string;
  readonly strategy_version?: number;
}

/** Calls the deployment's first ingest replica as `key` (admin-support.ts). */
const call = (deployment: Deployment, key: string, method: string, path: string, body?: unknown) => callAs(deployment.ingest.url, key, method, path, body);

/** A strategy of one failover step to `provider`, retried about every half second for a minute. */
const onlyTo = (name: string, provider: string) => ({
  name,
  channel: 'sms',
  steps: [{ route: { mode: 'failover', providers: [provider] }, retry: { max_attempts: 100, base_delay_ms: 300, max_delay_ms: 600 } }],
});

/**
 * A deployment whose tenant has strategies `moved` and `kept`, each at v1 to the
 * sandbox provider (failing) and v2 to `backup-sms` (healthy), and one message of each
 * pinned to v1 by a failed first attempt.
 */
async function pinnedToV1() {
  const deployment = await startDeployment({
    egressAllow: [LOOPBACK],
    env: { COMMSTRAT_CONFIG_REFRESH_MS: '600000', DISPATCHER_CIRCUIT_FAILURE_THRESHOLD: '100000' },
  });
  const backup = await startSandbox();
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'backup-sms',
    kind: 'http-sms',
    endpoint: backup.url,
    credentials: { token: backup.token },
    ratePerSecond: 1000,
    concurrency: 4,
    maxBatchSize: 100,
    lingerMs: 5,
    timeoutMs: 10_000,
  });
  for (const name of ['moved', 'kept']) await saveStrategy(deployment.sql, deployment.tenantId, onlyTo(name, 'sandbox-sms'));
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  const post = async (strategy: string): Promise<string> => {
    const { status, body } = await deployment.api('POST', '/v1/messages', { strategy, recipient: { phone: '+79161234567' }, content: { text: strategy } });
    assert.equal(status, 202, JSON.stringify(body));
    return body.id as string;
  };
  const ids = { moved: await post('moved'), kept: await post('kept') };
  const sendings = async (id: string): Promise<Sending[]> => {
    const { body } = await deployment.api('GET', `/v1/messages/${id}`);
    return (body.timeline as Sending[]).filter((event) => event.status === 'sending');
  };
  const status = async (id: string): Promise<string> => (await deployment.api('GET', `/v1/messages/${id}`)).body.status as string;
  for (const id of Object.values(ids)) {
    await eventually(`message ${id} to be tried once by v1`, async () => ((await sendings(id)).length >= 1 ? true : undefined));
  }
  for (const name of ['moved', 'kept']) await saveStrategy(deployment.sql, deployment.tenantId, onlyTo(name, 'backup-sms'));
  const adminKey = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, adminKey, 'operator', ['admin']);
  return { deployment, backup, ids, sendings, status, adminKey };
}

test('messages pinned to a version keep it after a new version, and continue by the newest once that version is moved', async () => {
  const { deployment, backup, ids, sendings, status, adminKey } = await pinnedToV1();

  // Without a move, the retries after v2 was saved still go by v1.
  const before = (await sendings(ids.moved)).length;
  await eventually('a retry after v2 was saved', async () => ((await sendings(ids.moved)).length > before + 1 ? true : undefined));
  for (const id of Object.values(ids)) {
    assert.deepEqual(
      new Set((await sendings(id)).map((event) => `${event.provider}@${event.strategy_version}`)),
      new Set(['sandbox-sms@1']),
    );
  }

  const moved = await call(deployment, adminKey, 'POST', '/v1/admin/strategies/moved/move', { from_version: 1 });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  assert.deepEqual(moved.body, { name: 'moved', from_version: 1, to_version: 2 });

  // The moved message's next attempt goes by v2, to the healthy provider.
  await eventually(`message ${ids.moved} to be sent`, async () => ((await status(ids.moved)) === 'sent' ? true : undefined));
  const last = (await sendings(ids.moved)).at(-1);
  assert.equal(last?.provider, 'backup-sms');
  assert.equal(last?.strategy_version, 2);
  assert.equal(backup.received.list({ clientRef: ids.moved }).length, 1);

  // The other strategy's message was not moved: it waits for its v1 provider.
  assert.notEqual(await status(ids.kept), 'sent');
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 0 });
  await eventually(`message ${ids.kept} to be sent`, async () => ((await status(ids.kept)) === 'sent' ? true : undefined));
  assert.deepEqual(
    new Set((await sendings(ids.kept)).map((event) => `${event.provider}@${event.strategy_version}`)),
    new Set(['sandbox-sms@1']),
  );
  assert.equal(backup.received.list({ clientRef: ids.kept }).length, 0);

  const audit = await deployment.sql<{ actor: string; details: Record<string, unknown> }[]>`
    SELECT actor, details FROM audit WHERE tenant_id = ${deployment.tenantId} AND action = 'strategy.move'`;
  assert.equal(audit.length, 1);
  assert.deepEqual(audit[0]?.details, {
    name: 'moved',
    version: 1,
    before: { moved_to_version: null },
    after: { moved_to_version: 2 },
  });
});

test('a move of an unknown strategy or version is 404, a move onto itself, into a cycle or onto fewer steps 422 naming the field', async () => {
  const { deployment, adminKey } = await pinnedToV1();
  const move = (name: string, body: unknown) => call(deployment, adminKey, 'POST', `/v1/admin/strategies/${name}/move`, body);
  const paths = (answer: { body: any }) => (answer.body.error.problems as { path: string }[]).map((p) => p.path);

  assert.equal((await move('moved', { from_version: 9 })).status, 404);
  assert.equal((await move('moved', { from_version: 1, to_version: 9 })).status, 404);
  assert.equal((await move('nothing', { from_version: 1 })).status, 404);

  const missing = await move('moved', { to_version: 2 });
  assert.equal(missing.status, 422);
  assert.deepEqual(paths(missing), ['/from_version']);
  const onto = await move('moved', { from_version: 1, to_version: 1 });
  assert.equal(onto.status, 422);
  assert.deepEqual(paths(onto), ['/to_version']);
  const newest = await move('moved', { from_version: 2 });
  assert.equal(newest.status, 422, 'v2 is the newest: moved onto itself');
  assert.deepEqual(paths(newest), ['/from_version']);

  assert.equal((await move('moved', { from_version: 1 })).status, 200);
  const cycle = await move('moved', { from_version: 2, to_version: 1 });
  assert.equal(cycle.status, 422);
  assert.deepEqual(paths(cycle), ['/to_version']);
  const rows = await deployment.sql`SELECT version, moved_to_version FROM strategies WHERE name = 'moved' ORDER BY version`;
  assert.deepEqual([...rows], [{ version: 1, moved_to_version: 2 }, { version: 2, moved_to_version: null }]);

  // v3 cascades over two steps: a message on step 1 of it would find no step 1 in v2.
  const twoSteps = onlyTo('moved', 'backup-sms');
  await saveStrategy(deployment.sql, deployment.tenantId, { ...twoSteps, steps: [...twoSteps.steps, ...twoSteps.steps] });
  const fewer = await move('moved', { from_version: 3, to_version: 2 });
  assert.equal(fewer.status, 422);
  assert.deepEqual(paths(fewer), ['/to_version']);

  // A key without the admin scope is refused before anything is read.
  assert.equal((await deployment.api('POST', '/v1/admin/strategies/moved/move', { from_version: 1 })).status, 403);
});
