// The admin commands of `commstrat` as processes against a real ingest (its admin API
// on the test's own PostgreSQL database): strategies from files, API keys.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { runCli, type CliEnv } from './cli-support.ts';
import { eventually, freePort } from './harness.ts';
import { startDeployment, type Deployment } from './services.ts';

/** A deployment without a dispatcher, and the CLI's environment with an admin key of its tenant. */
async function adminWorld(): Promise<{ deployment: Deployment; env: CliEnv; file: (name: string, text: string) => Promise<string> }> {
  const deployment = await startDeployment({ dispatcher: false });
  const adminKey = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, adminKey, 'operator', ['admin']);
  const dir = await mkdtemp(join(tmpdir(), 'cli-admin-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return {
    deployment,
    env: { COMMSTRAT_INGEST_URL: deployment.ingest.url, COMMSTRAT_ADMIN_KEY: adminKey },
    file: async (name, text) => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    },
  };
}

const otpYaml = (ttl: number) => `# the one-time-password strategy
name: otp
channel: sms
steps:
  - route:
      mode: failover
      providers: [sandbox-sms]
    ttl_seconds: ${ttl}
`;

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), answering `answer` when the
 * `[y/N]` question appears: the path a person at a terminal takes.
 */
async function runCliOnTerminal(args: readonly string[], env: CliEnv, answer: string): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, 'apps/cli/src/main.ts', ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: new URL('../../../', import.meta.url),
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  let answered = false;
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (!answered && output.includes('[y/N]')) {
      answered = true;
      child.stdin.write(`${answer}\r`);
    }
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

const changeLines = (stdout: string) => stdout.split('\n').filter((line) => /^ {2}[+~-] /.test(line));

async function versionsOf(deployment: Deployment, name: string): Promise<number[]> {
  const rows = await deployment.sql<{ version: number }[]>`
    SELECT version FROM strategies WHERE tenant_id = ${deployment.tenantId} AND name = ${name} ORDER BY version`;
  return rows.map((row) => row.version);
}

test('strategies apply prints the diff and saves a version; an unchanged file saves nothing; without a terminal it needs --yes', async () => {
  const { deployment, env, file } = await adminWorld();
  const path = await file('otp.yaml', otpYaml(300));

  const first = await runCli(['strategies', 'apply', path, '--yes'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /strategy otp: new, from /);
  assert.match(first.stdout, /^ {2}\+ \/steps: \[\{"route":\{"mode":"failover","providers":\["sandbox-sms"\]\},"ttl_seconds":300/m);
  assert.match(first.stdout, /saved strategy otp version 1 \(sms/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), [1]);

  await writeFile(path, otpYaml(600));
  const second = await runCli(['strategies', 'apply', path, '--yes'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /strategy otp: version 1 -> /);
  assert.deepEqual(changeLines(second.stdout), ['  ~ /steps/0/ttl_seconds: 300 -> 600'], 'the diff names the one changed field');
  assert.match(second.stdout, /saved strategy otp version 2/);

  const unchanged = await runCli(['strategies', 'apply', path, '--yes'], env);
  assert.equal(unchanged.code, 0, unchanged.stderr);
  assert.match(unchanged.stdout, /matches the newest version \(2\); nothing saved/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), [1, 2]);

  await writeFile(path, otpYaml(900));
  // runCli gives the CLI no stdin at all: nobody could answer a question.
  const refused = await runCli(['strategies', 'apply', path], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stdout, /~ \/steps\/0\/ttl_seconds: 600 -> 900/, 'the diff is still shown');
  assert.match(refused.stderr, /--yes: is needed: stdin is not a terminal.*pass --yes/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), [1, 2], 'nothing saved without confirmation');

  const asDefault = await runCli(['strategies', 'apply', await file('otp.json', JSON.stringify({ name: 'otp', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, ttl_seconds: 600 }] })), '--default-for-channel', '--yes'], env);
  assert.equal(asDefault.code, 0, asDefault.stderr);
  assert.match(asDefault.stdout, /becomes the default strategy for sms/);
  assert.match(asDefault.stdout, /saved strategy otp version 3 \(sms, default for its channel/);

  const list = await runCli(['strategies', 'list', '--json'], env);
  assert.deepEqual(
    list.json.strategies.map((s: { name: string; version: number; default_for_channel: boolean }) => [s.name, s.version, s.default_for_channel]),
    [['otp', 3, true], ['sms-default', 1, false]],
  );
  const shown = await runCli(['strategies', 'show', 'otp', '--version', '1'], env);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^# strategy otp version 1 /);
  assert.match(shown.stdout, /^ {4}ttl_seconds: 300$/m, 'the definition as YAML');
  const missing = await runCli(['strategies', 'show', 'nope'], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /strategy nope not found.*strategies list/);
});

test('strategies validate lists every wrong field by its path and exits non-zero; a good file saves nothing', async () => {
  const { deployment, env, file } = await adminWorld();
  const bad = await file(
    'bad.yaml',
    'name: otp\nchannel: sms\nsteps:\n  - route: { mode: sideways, providers: [sandbox-sms] }\n    ttl_seconds: -1\n',
  );
  const run = await runCli(['strategies', 'validate', bad], env);
  assert.equal(run.code, 2, run.stdout);
  assert.match(run.stderr, /the strategy in .*bad\.yaml is invalid, fix these 2 fields/);
  assert.match(run.stderr, /^ {2}\/steps\/0\/route\/mode: /m);
  assert.match(run.stderr, /^ {2}\/steps\/0\/ttl_seconds: /m);

  const broken = await runCli(['strategies', 'validate', await file('broken.yaml', 'name: otp\nsteps: [\n')], env);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /broken\.yaml: is not valid YAML: .*line \d+/);

  const good = await runCli(['strategies', 'validate', await file('good.yaml', otpYaml(300))], env);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /strategy otp is valid/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), []);
});

test('a wrong admin key and an ingest that is not there are each one line saying what to check', async () => {
  const { env, file } = await adminWorld();
  const path = await file('otp.yaml', otpYaml(300));
  // The flags go before or after the subcommand; a flag wins over the variable.
  const wrongKey = await runCli(['strategies', 'list', '--admin-key', 'cs_nonsense'], env);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /check COMMSTRAT_ADMIN_KEY.*\[unauthorized\]/);
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const down = await runCli(['strategies', '--ingest-url', nowhere, 'apply', path, '--yes'], env);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`cannot reach ingest at ${nowhere} \\(ECONNREFUSED\\): is ingest running there\\?`));
  const noKey = await runCli(['keys', 'list'], { COMMSTRAT_INGEST_URL: env['COMMSTRAT_INGEST_URL'] ?? '' });
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /COMMSTRAT_ADMIN_KEY: is not set: pass --admin-key/);
});

test('strategies diff shows what changed between two versions; rollback saves an old version again as the next one', async () => {
  const { deployment, env, file } = await adminWorld();
  const path = await file('otp.yaml', otpYaml(300));
  assert.equal((await runCli(['strategies', 'apply', path, '--yes'], env)).code, 0);
  await writeFile(path, otpYaml(600));
  assert.equal((await runCli(['strategies', 'apply', path, '--yes'], env)).code, 0);

  const diff = await runCli(['strategies', 'diff', 'otp', '1', '2'], env);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(diff.stdout, /^strategy otp, version 1 -> 2:$/m);
  assert.deepEqual(changeLines(diff.stdout), ['  ~ /steps/0/ttl_seconds: 300 -> 600']);
  const same = await runCli(['strategies', 'diff', 'otp', '2', '2', '--json'], env);
  assert.deepEqual(same.json.changes, []);

  const refused = await runCli(['strategies', 'rollback', 'otp', '1'], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /pass --yes/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), [1, 2]);

  const rollback = await runCli(['strategies', 'rollback', 'otp', '1', '--yes'], env);
  assert.equal(rollback.code, 0, rollback.stderr);
  assert.deepEqual(changeLines(rollback.stdout), ['  ~ /steps/0/ttl_seconds: 600 -> 300']);
  assert.match(rollback.stdout, /saved strategy otp version 3 .*, a copy of version 1/);
  const newest = await runCli(['strategies', 'show', 'otp', '--json'], env);
  assert.equal(newest.json.version, 3);
  assert.equal(newest.json.definition.steps[0].ttl_seconds, 300);

  const again = await runCli(['strategies', 'rollback', 'otp', '1', '--yes'], env);
  assert.match(again.stdout, /same definition as the newest \(3\); nothing saved/);
  const gone = await runCli(['strategies', 'rollback', 'otp', '9', '--yes'], env);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /strategy otp version 9 not found/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), [1, 2, 3]);
});

test('keys create prints a working key once, list shows it without the secret, revoke makes ingest refuse it', async () => {
  const { deployment, env } = await adminWorld();
  const created = await runCli(['keys', 'create', '--label', 'checkout service', '--scopes', 'send,read', '--json'], env);
  assert.equal(created.code, 0, created.stderr);
  const { id, key } = created.json as { id: string; key: string };
  assert.deepEqual(created.json.scopes, ['send', 'read']);
  const asNewKey = () => fetch(`${deployment.ingest.url}/v1/messages/01JZZZZZZZZZZZZZZZZZZZZZZZ`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal((await asNewKey()).status, 404, 'the new key is accepted (and finds no such message)');

  const human = await runCli(['keys', 'create', '--label', 'reports', '--scopes', 'read'], env);
  assert.match(human.stdout, /^created key \S+ \(reports; scopes read\)\ncs_\S+\nStore the key now/);

  const list = await runCli(['keys', 'list'], env);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${id}\\s+checkout service\\s+send,read\\s+\\S+\\s+-$`, 'm'));
  assert.ok(!list.stdout.includes(key), 'the list never shows a secret');

  const refused = await runCli(['keys', 'revoke', id], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /pass --yes/);
  assert.equal((await asNewKey()).status, 404, 'not revoked without confirmation');

  const revoked = await runCli(['keys', 'revoke', id, '--yes'], env);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`revoked key ${id} \\(checkout service\\)`));
  await eventually('ingest to refuse the revoked key', async () => ((await asNewKey()).status === 401 ? true : undefined), 5000);
  const listed = await runCli(['keys', 'list', '--json'], env);
  assert.equal(typeof listed.json.keys.find((k: { id: string }) => k.id === id).revoked_at, 'string');
  const twice = await runCli(['keys', 'revoke', id, '--yes'], env);
  assert.match(twice.stdout, /already revoked; nothing changed/);

  const badScope = await runCli(['keys', 'create', '--label', 'x', '--scopes', 'send,operator'], env);
  assert.equal(badScope.code, 2);
  assert.match(badScope.stderr, /^ {2}\/scopes\/1: /m);
  const unknown = await runCli(['keys', 'revoke', 'nope', '--yes'], env);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /API key nope not found: `commstrat keys list`/);
});

test('providers apply creates and changes a provider from a file with a diff, list and show mask credentials, show round-trips', async () => {
  const { deployment, env, file } = await adminWorld();
  const providerYaml = (rate: number) => `id: backup-sms
kind: http-sms
endpoint: ${deployment.sandbox.url}
credentials:
  token: backup-secret-token-9876
rate_per_second: ${rate}
`;
  const path = await file('backup.yaml', providerYaml(20));
  const valid = await runCli(['providers', 'validate', path], env);
  assert.equal(valid.code, 0, valid.stderr);
  assert.match(valid.stdout, /provider backup-sms is valid \(would create it\)/);

  const created = await runCli(['providers', 'apply', path, '--yes'], env);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^provider backup-sms: new, from /m);
  assert.match(created.stdout, /^ {2}\+ \/rate_per_second: 20$/m);
  assert.match(created.stdout, /^ {2}\+ \/credentials: \{"token":"\*\*\*\*9876"\}$/m, 'the diff shows the secret masked');
  assert.ok(!created.stdout.includes('backup-secret-token'), 'never the secret in full');
  assert.match(created.stdout, /saved provider backup-sms \(http-sms\)/);

  const unchanged = await runCli(['providers', 'apply', path, '--yes'], env);
  assert.match(unchanged.stdout, /matches what is saved; nothing saved/);

  await writeFile(path, providerYaml(30));
  const refused = await runCli(['providers', 'apply', path], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /pass --yes/);
  const changed = await runCli(['providers', 'apply', path, '--yes'], env);
  assert.equal(changed.code, 0, changed.stderr);
  assert.deepEqual(changeLines(changed.stdout), ['  ~ /rate_per_second: 20 -> 30']);
  const [row] = await deployment.sql<{ rate_per_second: number }[]>`
    SELECT rate_per_second FROM providers WHERE tenant_id = ${deployment.tenantId} AND id = 'backup-sms'`;
  assert.equal(row?.rate_per_second, 30);

  const list = await runCli(['providers', 'list', '--json'], env);
  assert.deepEqual(list.json.providers.map((p: { id: string }) => p.id), ['backup-sms', 'sandbox-sms']);
  const human = await runCli(['providers', 'list'], env);
  assert.match(human.stdout, /^backup-sms\s+http-sms\s+-\s+http:\/\/\S+\s+30\s+100\s+true$/m);

  const shown = await runCli(['providers', 'show', 'backup-sms'], env);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^ {2}token: "?\*\*\*\*9876"?$/m);
  // Applying what show printed changes nothing: a credential left as its mask keeps the saved one.
  const roundTrip = await runCli(['providers', 'apply', await file('shown.yaml', shown.stdout), '--yes'], env);
  assert.equal(roundTrip.code, 0, roundTrip.stderr);
  assert.match(roundTrip.stdout, /nothing saved/);

  const bad = await runCli(['providers', 'validate', await file('bad.yaml', 'id: worse-sms\nkind: http-sms\nendpoint: x\nrate_per_second: fast\ncolour: blue\n')], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /the provider in .*bad\.yaml is invalid/);
  assert.match(bad.stderr, /^ {2}\/rate_per_second: /m);
  const missing = await runCli(['providers', 'show', 'nope'], env);
  assert.match(missing.stderr, /provider nope not found: `commstrat providers list`/);
});

test('on a terminal, apply asks and saves only on y', { skip: !existsSync('/usr/bin/script') && 'util-linux script is not installed' }, async () => {
  const { deployment, env, file } = await adminWorld();
  const path = await file('otp.yaml', otpYaml(300));
  const declined = await runCliOnTerminal(['strategies', 'apply', path], env, 'n');
  assert.equal(declined.code, 1, declined.output);
  assert.match(declined.output, /Save strategy otp as version 1\? \[y\/N\]/);
  assert.match(declined.output, /not confirmed: nothing saved/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), []);

  const accepted = await runCliOnTerminal(['strategies', 'apply', path], env, 'y');
  assert.equal(accepted.code, 0, accepted.output);
  assert.match(accepted.output, /saved strategy otp version 1/);
  assert.deepEqual(await versionsOf(deployment, 'otp'), [1]);
});
