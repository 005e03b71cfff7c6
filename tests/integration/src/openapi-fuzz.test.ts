// Schemathesis (installed by scripts/lib/schemathesis.sh) against /openapi.json of a real
// ingest process: bounded examples and a fixed seed, every check but the two that do not
// fit this API (see below). No 5xx, no answer that contradicts the document, no crash.
// Run twice: as a tenant's send+read key over every operation, and as an admin and
// operator key over the admin operations, which answer the first only with 403.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { eventually, freePort, fuzzSettings } from './harness.ts';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { spawnApp, startDeployment, type Deployment } from './services.ts';

const run = promisify(execFile);
const root = new URL('../../../', import.meta.url);

/**
 * Runs Schemathesis against a real ingest process of a new deployment, as `key(deployment)`,
 * on the operations `extraArgs` select; asserts no failure, no crash, and more than
 * `minCases` cases run.
 */
async function fuzz(
  t: TestContext,
  key: (deployment: Deployment) => Promise<string>,
  extraArgs: readonly string[],
  minCases: number,
): Promise<void> {
  const { stdout: stPath } = await run('bash', ['scripts/lib/schemathesis.sh'], { cwd: root });
  const deployment = await startDeployment({ dispatcher: false });
  // The in-process ingest shares the databases; the one fuzzed is a real process, so a
  // crash shows as its exit rather than as this test dying.
  const port = await freePort();
  const { child } = spawnApp('ingest', { ...deployment.env, INGEST_PORT: String(port), INGEST_TENANT_RATE_PER_SECOND: '100000' });
  const url = `http://127.0.0.1:${port}`;
  await eventually('the ingest process to listen', async () => ((await fetch(`${url}/health/live`).catch(() => undefined))?.ok ? true : undefined));

  const { examples, seed } = fuzzSettings();
  const args = [
    '--config-file', fileURLToPath(new URL('../schemathesis.toml', import.meta.url)),
    'run', `${url}/openapi.json`,
    '--checks', 'all',
    // use_after_free expects a DELETEd resource to be gone; DELETE here cancels, and the
    // message stays readable with status cancelled, as documented.
    // object_level_authorization needs a second tenant's credentials in its config;
    // tenant isolation has its own tests (tenant-isolation.test.ts).
    '--exclude-checks', 'use_after_free,object_level_authorization',
    '--header', `Authorization: Bearer ${await key(deployment)}`,
    '--max-examples', String(examples),
    '--seed', String(seed),
    '--workers', '1',
    '--request-timeout', '10',
    '--no-color',
    ...extraArgs,
  ];
  // Schemathesis keeps a cache in its working directory: a temporary one, not the checkout.
  const cwd = await mkdtemp(join(tmpdir(), 'commstrat-schemathesis-'));
  t.after(() => rm(cwd, { recursive: true, force: true }));
  const result = await run(stPath.trim(), args, { cwd, maxBuffer: 64 * 1024 * 1024 }).then(
    ({ stdout }) => ({ code: 0, output: stdout }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  );
  assert.equal(child.exitCode, null, 'the ingest process is still running');
  assert.equal((await fetch(`${url}/health/live`)).status, 200);
  assert.equal(result.code, 0, `schemathesis reported failures:\n${result.output.slice(-20_000)}`);
  const cases = /Test cases:\s+(\d+) generated[^\n]*/.exec(result.output);
  assert.ok(cases !== null && Number(cases[1]) > minCases, `schemathesis ran cases: ${cases?.[0] ?? result.output.slice(-2000)}`);
  t.diagnostic(`schemathesis: ${cases[0].trim()}, seed ${seed}, ${examples} examples per operation`);
}

// Schemathesis runs for a minute or two on a loaded machine: longer than the suite's
// default test timeout, which is for tests that wait on the service.
const FUZZ_TIMEOUT_MS = 300_000;

test('Schemathesis finds no server error, no answer that contradicts the document, and ingest stays up', { timeout: FUZZ_TIMEOUT_MS }, (t) =>
  // The tenant's send+read key. The admin operations only answer it 403 (every one of
  // them is checked for that by admin-api.test.ts); they are fuzzed as an admin below.
  fuzz(t, (deployment) => Promise.resolve(deployment.apiKey), ['--exclude-path-regex', '^/v1/admin/'], 100));

test('Schemathesis as an admin and operator key finds no server error in the admin operations', { timeout: FUZZ_TIMEOUT_MS }, (t) =>
  fuzz(
    t,
    async (deployment) => {
      const key = generateApiKey();
      await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, key, 'fuzz', ['admin', 'operator']);
      return key;
    },
    ['--include-path-regex', '^/v1/admin/'],
    100,
  ));
