import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDeployment } from './services.ts';

const sms = (text: string) => ({
  channel: 'sms',
  recipient: { phone: '+79161234567' },
  content: { text },
});

test('an accepted SMS shows its encoding and parts in the API, and the parts are counted by encoding', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const cyrillic = await deployment.api('POST', '/v1/messages', sms('ж'.repeat(71)));
  const latin = await deployment.api('POST', '/v1/messages', sms(`${'a'.repeat(159)}€`));
  const short = await deployment.api('POST', '/v1/messages', sms('Your code is 1234'));
  assert.deepEqual([cyrillic.status, latin.status, short.status], [202, 202, 202]);

  const view = await deployment.api('GET', `/v1/messages/${cyrillic.body.id}`);
  assert.deepEqual(view.body.sms, { encoding: 'ucs-2', units: 71, parts: 2 });
  assert.deepEqual((await deployment.api('GET', `/v1/messages/${latin.body.id}`)).body.sms, {
    encoding: 'gsm-7',
    units: 161,
    parts: 2,
  });
  const listed = await deployment.api('GET', '/v1/messages');
  assert.deepEqual(
    listed.body.messages.map((m: { sms: { parts: number } }) => m.sms.parts).sort(),
    [1, 2, 2],
  );

  const metrics = await (await fetch(`${deployment.ingest.url}/metrics`)).text();
  assert.match(metrics, /^commstrat_sms_parts_total\{encoding="ucs-2",service="ingest"\} 2$/m);
  assert.match(metrics, /^commstrat_sms_parts_total\{encoding="gsm-7",service="ingest"\} 3$/m);

  const document = (await (await fetch(`${deployment.ingest.url}/openapi.json`)).json()) as any;
  assert.deepEqual(document.components.schemas.Message.properties.sms.properties.encoding.enum, [
    'gsm-7',
    'ucs-2',
  ]);
  assert.equal(
    document.paths['/v1/messages/{id}'].get.responses['200'].content['application/json'].schema
      .$ref,
    '#/components/schemas/Message',
  );
});
