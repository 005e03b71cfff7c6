// `commstrat templates validate|apply|diff|preview` as processes against a real ingest
// (its admin API on the test's own PostgreSQL database), from YAML files.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { runCli } from './cli-support.ts';
import { keyWith } from './admin-support.ts';
import { startDeployment } from './services.ts';
import { orderShipped } from './template-support.ts';

test('templates validate, apply, diff and preview from YAML files, with the problems of a bad file listed by path', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const env = { COMMSTRAT_INGEST_URL: deployment.ingest.url, COMMSTRAT_ADMIN_KEY: await keyWith(deployment, ['admin']) };
  const dir = await mkdtemp(join(tmpdir(), 'cli-templates-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const file = async (name: string, document: object) => {
    const path = join(dir, name);
    await writeFile(path, stringify(document));
    return path;
  };
  const good = await file('order-shipped.yaml', orderShipped());
  const cli = (...args: string[]) => runCli(['templates', ...args], env);

  assert.deepEqual(await cli('validate', good).then((r) => [r.code, r.stdout.trim()]), [0, `${good}: template order-shipped is valid`]);
  const bad = await file('bad.yaml', { ...orderShipped(), channels: { sms: { en: { text: '{{ name | shout }}' }, ru: { text: '{{ nmae }}' } } } });
  const refused = await cli('validate', bad);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /fix these 2 fields/);
  assert.match(refused.stderr, /\/channels\/sms\/en\/text: undefined filter: shout/);
  assert.match(refused.stderr, /\/channels\/sms\/ru\/text: uses \{\{ nmae \}\}, which is not declared/);

  const applied = await cli('apply', good, '--yes');
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /template order-shipped: new, from/);
  assert.match(applied.stdout, /saved template order-shipped version 1/);
  assert.match((await cli('apply', good, '--yes')).stdout, /matches the newest version \(1\); nothing saved/);
  const changed = await file('order-shipped.yaml', orderShipped('Order {{ order.id }}: on its way'));
  const second = await cli('apply', changed, '--yes');
  assert.match(second.stdout, /~ \/channels\/sms\/en\/text: "Hi \{\{ name \}\}, order \{\{ order.id \}\} has shipped." -> "Order \{\{ order.id \}\}: on its way"/);
  assert.match(second.stdout, /saved template order-shipped version 2/);
  const diff = await cli('diff', 'order-shipped', '1', '2', '--json');
  assert.deepEqual(diff.json.changes.map((c: { path: string }) => c.path), ['/channels/sms/en/text']);

  // A file, in a locale it falls back from, one channel: the text and how it goes as an SMS.
  const preview = await cli('preview', changed, '--locale', 'ru-RU', '--channel', 'sms', '--variables', '{"name":"Анна","order":{"id":"7"}}');
  assert.equal(preview.code, 0, preview.stderr);
  assert.equal(preview.stdout.trim(), ['template order-shipped (file, not saved)', 'sms (ru):', '  text: Анна, заказ 7 отправлен.', '  sms: UCS-2, 1 part (24 characters)'].join('\n'));
  const saved = await cli('preview', 'order-shipped', '--version', '1', '--channel', 'sms', '--json');
  assert.deepEqual(saved.json.renders, [{ channel: 'sms', locale: 'en', text: 'Hi Ann, order A-1 has shipped.', sms: { encoding: 'gsm-7', parts: 1, units: 30, characters: 30 } }]);
  const wrongVariables = await cli('preview', 'order-shipped', '--variables', '{"name":"Ann"}');
  assert.equal(wrongVariables.code, 2);
  assert.match(wrongVariables.stderr, /\/variables\/order: is required/);
  const notJson = await cli('preview', 'order-shipped', '--variables', '{name}');
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, /--variables: is not JSON/);
  assert.match((await cli('show', 'nope')).stderr, /template nope not found: `commstrat templates list`/);
});
