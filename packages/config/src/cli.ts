// commstrat-config: `migrate` applies migrations; `seed-demo` creates the local demo
// tenant with the key in COMMSTRAT_API_KEY. Reads COMMSTRAT_POSTGRES_URL.
import postgres from 'postgres';
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
    if (key === undefined) throw new Error('COMMSTRAT_API_KEY is not set: run `eval "$(scripts/stack env)"` first.');
    await ensureTenantWithKey(sql, { id: 'demo', name: 'Local demo tenant' }, key, 'local demo');
    console.log('demo tenant ready (tenant id "demo")');
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
