// The worked examples of docs/strategies.md, read from the page itself, so a test runs
// the example as a reader finds it and a change to either shows up in the other.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import type { Deployment } from './services.ts';

const PAGE = new URL('../../../docs/strategies.md', import.meta.url);

/** The JSON block after `<!-- example: <name> -->` in docs/strategies.md, parsed. */
export function documentedExample(name: string): unknown {
  const page = readFileSync(PAGE, 'utf8');
  const match = new RegExp(`<!-- example: ${name} -->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``).exec(page);
  assert.ok(match?.[1] !== undefined, `docs/strategies.md holds the ${name} example`);
  return JSON.parse(match[1]) as unknown;
}

/** Saves a strategy through the admin API, as an operator would, with a new admin key of the tenant. */
export async function saveThroughAdminApi(deployment: Deployment, strategy: unknown, query = ''): Promise<{ version: number }> {
  const key = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, key, 'operator', ['admin']);
  const response = await fetch(`${deployment.ingest.url}/v1/admin/strategies${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(strategy),
  });
  const body = (await response.json()) as { version: number };
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}
