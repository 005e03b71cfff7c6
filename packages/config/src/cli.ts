// commstrat-config: `migrate` applies migrations; `seed-demo` creates the local demo
// tenant with the key in COMMSTRAT_API_KEY (and the admin key in COMMSTRAT_ADMIN_KEY,
// when set), its sandbox SMS provider (at
// COMMSTRAT_SANDBOX_URL, token SANDBOX_TOKEN) and default SMS strategy (and the key in
// COMMSTRAT_OPERATOR_KEY with the `operator` scope, when set); `create-key TENANT
// SCOPES [LABEL]` creates a key of any scopes, `operator` included, which the admin API
// never grants, and prints it once. Reads COMMSTRAT_POSTGRES_URL. Safe to repeat.
import postgres from 'postgres';
import { ensureSandboxRouting } from './sandbox-routing.ts';
import { createApiKey } from './api-keys.ts';
import { API_KEY_SCOPES, ensureTenantWithKey, type ApiKeyScope } from './tenants.ts';
import { migrate } from './migrate.ts';

const [command, ...args] = process.argv.slice(2);
const COMMANDS = ['migrate', 'seed-demo', 'create-key'];
const url = process.env['COMMSTRAT_POSTGRES_URL'];
if (url === undefined) {
  console.error('COMMSTRAT_POSTGRES_URL is not set: run `eval "$(scripts/stack env)"` first.');
  process.exit(2);
}
const sql = postgres(url, { onnotice: () => {} });
try {
  if (command === 'migrate' || command === 'seed-demo') {
    const applied = await migrate(sql);
    console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'migrations: up to date');
  }
  if (command === 'seed-demo') {
    const key = process.env['COMMSTRAT_API_KEY'];
    if (key === undefined)
      throw new Error('COMMSTRAT_API_KEY is not set: run `eval "$(scripts/stack env)"` first.');
    await ensureTenantWithKey(sql, { id: 'demo', name: 'Local demo tenant' }, key, 'local demo');
    // The local operator's key: the demo tenant's configuration through /v1/admin.
    const adminKey = process.env['COMMSTRAT_ADMIN_KEY'];
    if (adminKey !== undefined) {
      await ensureTenantWithKey(sql, { id: 'demo', name: 'Local demo tenant' }, adminKey, 'local operator', ['admin', 'read']);
    }
    // Creating and listing tenants (/v1/admin/tenants) takes the operator scope.
    const operatorKey = process.env['COMMSTRAT_OPERATOR_KEY'];
    if (operatorKey !== undefined) {
      await ensureTenantWithKey(sql, { id: 'demo', name: 'Local demo tenant' }, operatorKey, 'local operator (tenants)', ['operator']);
    }
    // ensureSandboxRouting adds no strategy version when the newest one already says the same.
    const version = await ensureSandboxRouting(sql, 'demo', {
      endpoint: process.env['COMMSTRAT_SANDBOX_URL'] ?? 'http://127.0.0.1:8082',
      token: process.env['SANDBOX_TOKEN'] ?? 'sandbox-token',
    });
    console.log(
      `demo tenant ready (tenant id "demo", provider "sandbox-sms", strategy "sms-default" v${version})`,
    );
  }
  if (command === 'create-key') {
    const [tenantId, scopeList, label = ''] = args;
    const scopes = (scopeList ?? '').split(',').filter((scope) => scope !== '');
    const unknown = scopes.filter((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
    if (tenantId === undefined || scopes.length === 0 || unknown.length > 0) {
      throw new Error(`usage: create-key TENANT SCOPES [LABEL], SCOPES a comma-separated list of ${API_KEY_SCOPES.join(', ')}`);
    }
    const { record, key } = await createApiKey(sql, tenantId, { label, scopes: scopes as ApiKeyScope[], actor: 'cli' });
    // The key on stdout alone, so a script can capture it; it is stored only as its digest.
    console.error(`key ${record.id} of tenant ${tenantId} with scopes ${scopes.join(',')}; shown once:`);
    console.log(key);
  }
  if (command === undefined || !COMMANDS.includes(command)) {
    console.error('usage: node packages/config/src/cli.ts migrate|seed-demo|create-key TENANT SCOPES [LABEL]');
    process.exitCode = 2;
  }
} catch (error) {
  console.error(`config: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await sql.end({ timeout: 5 });
}
