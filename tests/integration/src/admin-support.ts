// Helpers of the /v1/admin tests: keys of given scopes, and calls as any key to any replica.
import { ensureTenantWithKey, generateApiKey, type ApiKeyScope } from '@commstrat/config';
import type { Deployment } from './services.ts';

// Bodies are whatever the API answered; the tests assert on their shape.
export type Answer = { status: number; body: any; text: string };

/** Calls `baseUrl` with `key` as its bearer token. */
export async function call(baseUrl: string, key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), text };
}

/** A new key of the deployment's tenant (or `tenantId`, created if missing) with these scopes, made as an operator's SQL would. */
export async function keyWith(deployment: Deployment, scopes: ApiKeyScope[], tenantId = deployment.tenantId): Promise<string> {
  const key = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: tenantId, name: tenantId }, key, `test ${scopes.join(',')}`, scopes);
  return key;
}

/** How to call the deployment's first ingest replica as `key`. */
export const as = (deployment: Deployment, key: string) => (method: string, path: string, body?: unknown) =>
  call(deployment.ingest.url, key, method, path, body);

export const sms = { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hello' } };
