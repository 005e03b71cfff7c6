// docs/providers.md "Add a provider in 15 minutes", run from the page's own blocks:
// the definition, provider, strategy and message marked `walkthrough-*` are applied
// through the admin API of a running ingest + dispatcher + sandbox, as the page says,
// and the message must end `sent` at the sandbox and in the journal. No code change,
// no restart. Only the provider's endpoint and token are this test's own sandbox's.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { eventually } from './harness.ts';
import { startDeployment } from './services.ts';

const PAGE = new URL('../../../docs/providers.md', import.meta.url);

/** The fenced blocks of a markdown page whose info string is `<language> walkthrough-<name>`, by name. */
function walkthroughBlocks(markdown: string): Map<string, { language: string; text: string }> {
  const blocks = new Map<string, { language: string; text: string }>();
  for (const match of markdown.matchAll(/^```(\w+) walkthrough-([a-z-]+)\n([\s\S]*?)^```$/gm)) {
    const [, language = '', name = '', text = ''] = match;
    assert.ok(!blocks.has(name), `one walkthrough-${name} block`);
    blocks.set(name, { language, text });
  }
  return blocks;
}

test('the "Add a provider in 15 minutes" walkthrough of docs/providers.md sends a message through a provider added at run time', async () => {
  const blocks = walkthroughBlocks(await readFile(PAGE, 'utf8'));
  assert.deepEqual([...blocks.keys()].sort(), ['definition', 'message', 'provider', 'strategy']);
  const block = (name: string) => {
    const found = blocks.get(name);
    assert.ok(found, `walkthrough-${name}`);
    return found;
  };
  assert.equal(block('definition').language, 'yaml');
  const provider = JSON.parse(block('provider').text) as { id: string; kind: string; credentials: Record<string, string> };
  const strategy = JSON.parse(block('strategy').text) as { name: string };
  const message = JSON.parse(block('message').text) as { content: { text: string } };

  const deployment = await startDeployment();
  const adminKey = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, adminKey, 'operator', ['admin']);
  const admin = async (method: string, path: string, body: string, type = 'application/json') => {
    const response = await fetch(`${deployment.ingest.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': type },
      body,
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  // The tenant's routing is held by ingest and the dispatcher from this message on, so
  // what follows must reach them by reload, not by a first read.
  assert.equal((await deployment.api('POST', '/v1/messages', { channel: 'sms', recipient: { phone: '+4915112345678' }, content: { text: 'warm' } })).status, 202);

  // 2. Store it: the YAML as the page shows it, with curl's content type.
  const stored = await admin('PUT', `/v1/admin/provider-definitions/${provider.kind}`, block('definition').text, 'application/yaml');
  assert.equal(stored.status, 201, JSON.stringify(stored.body));
  assert.equal(stored.body.version, 1);

  // 3. The provider: validated, then created; this test's sandbox instead of localhost:8082.
  const ours = JSON.stringify({ ...provider, endpoint: deployment.sandbox.url, credentials: { ...provider.credentials, token: deployment.sandbox.token } });
  const validated = await admin('POST', '/v1/admin/providers/validate', ours);
  assert.equal(validated.status, 200, JSON.stringify(validated.body));
  const created = await admin('PUT', `/v1/admin/providers/${provider.id}`, ours);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(created.body.definition, { source: 'stored', name: provider.kind, version: 1 });
  assert.ok(!JSON.stringify(created.body).includes(deployment.sandbox.token), 'credentials masked');

  // 4. The strategy, then the message.
  const saved = await admin('POST', '/v1/admin/strategies', block('strategy').text);
  assert.equal(saved.status, 201, JSON.stringify(saved.body));
  const id = await eventually('ingest to know the new strategy', async () => {
    const answer = await deployment.api('POST', '/v1/messages', block('message').text);
    if (answer.status === 202) return (answer.body as { id: string }).id;
    assert.equal(answer.status, 422, JSON.stringify(answer.body));
    return undefined;
  }, 5000, 100);
  const view = await eventually('the message sent', async () => {
    const current = await deployment.api('GET', `/v1/messages/${id}`);
    return current.body.status === 'sent' ? current.body : undefined;
  });
  assert.equal(view.strategy, strategy.name);
  const received = deployment.sandbox.received.list({ clientRef: id, to: undefined });
  assert.deepEqual(received.map((m) => [m.text, m.sender]), [[message.content.text, provider.credentials['sender']]]);
  const sent = view.timeline.find((e: { status: string }) => e.status === 'sent');
  assert.equal(sent.provider, provider.id);
  assert.equal(sent.provider_message_id, received[0]?.message_id);

  const journaled = await deployment.db.collection<{ _id: string; status: string }>('messages').findOne({ _id: id });
  assert.equal(journaled?.status, 'sent');
  const exchange = await deployment.db.collection('provider_exchanges').findOne({ message_ids: id });
  assert.ok(exchange, 'the provider exchange journaled');
  assert.match(String(exchange['request']), new RegExp(`"client_ref":"${id}"`));
});
