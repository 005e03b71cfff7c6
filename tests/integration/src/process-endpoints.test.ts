// What every process answers besides its work: /info, 405 for a known path asked with
// the wrong method, and a JSON 404 for an unknown path, in the shape ingest's errors use.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDeployment } from './services.ts';

async function get(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type') ?? '', allow: response.headers.get('allow'), text };
}

test('GET /info on ingest, dispatcher and sandbox names version, commit, start, replica and config version', async () => {
  const deployment = await startDeployment();
  const before = Date.now();
  const urls = { ingest: deployment.ingest.url, dispatcher: deployment.dispatcher?.url ?? '', sandbox: deployment.sandbox.url };
  for (const [service, url] of Object.entries(urls)) {
    const answer = await get(`${url}/info`);
    assert.equal(answer.status, 200, service);
    const info = JSON.parse(answer.text) as Record<string, unknown>;
    assert.equal(info['service'], service);
    assert.equal(info['version'], '0.1.0');
    const commit = info['git_commit'];
    assert.ok(commit === null || (typeof commit === 'string' && /^[0-9a-f]{40}$/.test(commit)), JSON.stringify(commit));
    assert.ok(Date.parse(String(info['started_at'])) <= before + 1000, 'started before it was asked');
    assert.equal(typeof info['replica_id'], 'string');
    assert.match(String(info['config_version']), /^sha256:[0-9a-f]{16}$/);
    assert.doesNotMatch(answer.text, /commstrat:commstrat@|password/i, 'no credentials');
  }
  // Replicas with other settings tell apart by config version; the same settings do not.
  const other = await deployment.startIngest({ INGEST_MAX_BATCH_MESSAGES: '7' });
  const same = await deployment.startIngest();
  const version = async (url: string) => (JSON.parse((await get(`${url}/info`)).text) as { config_version: string }).config_version;
  assert.notEqual(await version(other.url), await version(deployment.ingest.url));
  assert.equal(await version(same.url), await version(deployment.ingest.url));
});

test('a known path asked with a method it lacks is 405 with Allow and the JSON error, on every process', async () => {
  const deployment = await startDeployment();
  const cases: [string, string, string][] = [
    [`${deployment.ingest.url}/v1/messages/batch`, 'DELETE', 'POST'],
    [`${deployment.ingest.url}/v1/messages/01M8FJJBEY8YMD6ZQ85TW5Z8T5`, 'POST', 'GET, DELETE, HEAD'],
    [`${deployment.ingest.url}/v1/messages`, 'PUT', 'POST, GET, HEAD'],
    [`${deployment.ingest.url}/metrics`, 'POST', 'GET, HEAD'],
    [`${deployment.ingest.url}/openapi.json`, 'DELETE', 'GET, HEAD'],
    [`${deployment.dispatcher?.url ?? ''}/health/ready`, 'POST', 'GET, HEAD'],
    [`${deployment.sandbox.url}/v1/sms/batch`, 'GET', 'POST'],
  ];
  for (const [url, method, allow] of cases) {
    const answer = await get(url, { method });
    assert.equal(answer.status, 405, `${method} ${url}`);
    assert.equal(answer.allow, allow, `${method} ${url}`);
    assert.equal((JSON.parse(answer.text) as { error: { code: string } }).error.code, 'method_not_allowed');
  }
  const options = await get(`${deployment.ingest.url}/v1/messages`, { method: 'OPTIONS' });
  assert.equal(options.status, 204);
  assert.equal(options.allow, 'POST, GET, HEAD');
});

test('dispatcher and sandbox answer an unknown path with the JSON not_found error ingest uses', async () => {
  const deployment = await startDeployment();
  for (const base of [deployment.ingest.url, deployment.dispatcher?.url ?? '', deployment.sandbox.url]) {
    const answer = await get(`${base}/no/such/path`);
    assert.equal(answer.status, 404, base);
    assert.match(answer.type, /^application\/json/, base);
    assert.equal((JSON.parse(answer.text) as { error: { code: string } }).error.code, 'not_found', base);
  }
  const malformed = await get(`${deployment.sandbox.url}/v1/sms/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${deployment.sandbox.token}`, 'content-type': 'application/json' },
    body: '{"messages":',
  });
  assert.equal(malformed.status, 400);
  assert.equal((JSON.parse(malformed.text) as { error: { code: string } }).error.code, 'bad_request');
  const badPath = await get(`${deployment.ingest.url}/v1/messages/%E0%A4%A`, { headers: { authorization: `Bearer ${deployment.apiKey}` } });
  assert.equal(badPath.status, 400, 'a path that does not decode is the client error');
  assert.equal((JSON.parse(badPath.text) as { error: { code: string } }).error.code, 'bad_request');
});
