// commstrat-config: `migrate` applies migrations; `seed-demo` creates the local demo
// tenant with the key in COMMSTRAT_API_KEY (and the admin key in COMMSTRAT_ADMIN_KEY,
// when set), its sandbox SMS provider (at
// COMMSTRAT_SANDBOX_URL, token SANDBOX_TOKEN) and default SMS strategy. Reads
// COMMSTRAT_POSTGRES_URL. Safe to repeat.
import postgres from 'postgres';
import { ensureSandboxRouting } from './sandbox-routing.ts';
import { ensureTenantWithKey } from './tenants.ts';
import { migrate } from './migrate.ts';

const [command] = process.argv.slice(2);
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
    // ensureSandboxRouting adds no strategy version when the newest one already says the same.
    const version = await ensureSandboxRouting(sql, 'demo', {
      endpoint: process.env['COMMSTRAT_SANDBOX_URL'] ?? 'http://127.0.0.1:8082',
      token: process.env['SANDBOX_TOKEN'] ?? 'sandbox-token',
    });
    console.log(
      `demo tenant ready (tenant id "demo", provider "sandbox-sms", strategy "sms-default" v${version})`,
    );
  }
  if (command !== 'migrate' && command !== 'seed-demo') {
    console.error('usage: node packages/config/src/cli.ts migrate|seed-demo');
    process.exitCode = 2;
  }
} catch (error) {
  console.error(`config: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await sql.end({ timeout: 5 });
}
