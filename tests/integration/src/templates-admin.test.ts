// /v1/admin/templates against a real ingest and PostgreSQL: versions that are never
// rewritten, the audit log, bad and hostile templates refused by path with nothing
// stored, and the preview with SMS encoding and parts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDeployment } from './services.ts';
import { orderShipped, templateAdmin } from './template-support.ts';

test('a template is saved as versions: an unchanged save keeps the version, a change adds one, and each is audited with before and after', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await templateAdmin(deployment);
  const first = await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped());
  assert.equal(first.status, 201, first.text);
  assert.equal(first.body.version, 1);
  assert.match(first.body.created_by, /^api-key:/);
  const again = await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped());
  assert.deepEqual([again.status, again.body.version], [200, 1]);
  const changed = await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped('Order {{ order.id }} is on its way, {{ name }}.'));
  assert.deepEqual([changed.status, changed.body.version], [201, 2]);

  const list = await admin('GET', '/v1/admin/templates');
  assert.deepEqual(list.body.templates.map((t: { name: string; version: number }) => [t.name, t.version]), [['order-shipped', 2]]);
  assert.equal((await admin('GET', '/v1/admin/templates/order-shipped?version=1')).body.definition.channels.sms.en.text, orderShipped().channels.sms.en.text);
  const diff = await admin('GET', '/v1/admin/templates/order-shipped/diff?from=1&to=2');
  assert.deepEqual(diff.body.changes, [
    { path: '/channels/sms/en/text', before: orderShipped().channels.sms.en.text, after: 'Order {{ order.id }} is on its way, {{ name }}.' },
  ]);
  assert.equal((await admin('GET', '/v1/admin/templates/nope')).status, 404);

  const audit = await deployment.sql<{ details: any }[]>`SELECT details FROM audit WHERE action = 'template.save' ORDER BY id`;
  assert.deepEqual(audit.map((row) => [row.details.version, row.details.before?.channels.sms.en.text ?? null]), [
    [1, null],
    [2, orderShipped().channels.sms.en.text],
  ]);
  await assert.rejects(deployment.sql`UPDATE templates SET definition = '{}' WHERE name = 'order-shipped'`, /never rewritten/);
});

test('bad templates are refused by their path in the template, and none of them is stored', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await templateAdmin(deployment);
  const base = orderShipped();
  const cases: [string, object, string, RegExp][] = [
    ['syntax', { ...base, channels: { sms: { en: { text: 'Hi {% if name %}' } } } }, '/channels/sms/en/text', /not closed/],
    ['unknown filter', { ...base, channels: { sms: { en: { text: '{{ name | shout }}' } } } }, '/channels/sms/en/text', /undefined filter: shout/],
    ['unknown tag', { ...base, channels: { sms: { en: { text: '{% shell "ls" %}' } } } }, '/channels/sms/en/text', /tag "shell" not found/],
    ['undeclared variable', { ...base, channels: { sms: { en: { text: '{{ order.total }}' } } } }, '/channels/sms/en/text', /\{\{ order\.total \}\}.*not declared/],
    ['a regular expression', { ...base, variables: { type: 'object', properties: { name: { type: 'string', pattern: '(a+)+$' } } } }, '/variables/properties/name/pattern', /not allowed/],
    ['bad MJML', { ...base, channels: { email: { en: { subject: 'S', mjml: '<mjml><mj-body><mj-sectoin></mj-sectoin></mj-body></mjml>' } } } }, '/channels/email/en/mjml', /mj-sectoin/],
    [
      'hostile with its sample variables',
      { ...base, sample_variables: { name: 'x', order: { id: '1' } }, channels: { sms: { en: { text: '{% for i in (1..1000) %}{% for j in (1..1000) %}{% for k in (1..1000) %}{{ name }}{% endfor %}{% endfor %}{% endfor %}' } } } },
      '/channels/sms/en/text',
      /render limit exceeded.*sample_variables/,
    ],
    ['another name in the body', { ...base, name: 'other' }, '/name', /must be "order-shipped"/],
  ];
  for (const [what, template, path, message] of cases) {
    const refused = await admin('PUT', '/v1/admin/templates/order-shipped', template);
    assert.equal(refused.status, 422, `${what}: ${refused.text}`);
    assert.equal(refused.body.error.code, 'validation_failed', what);
    const problem = refused.body.error.problems.find((p: { path: string }) => p.path === path);
    assert.ok(problem, `${what}: ${refused.text}`);
    assert.match(problem.message, message, what);
    if (path === '/name') continue;
    const validated = await admin('POST', '/v1/admin/templates/validate', template);
    assert.equal(validated.status, 422, `validate, ${what}`);
  }
  assert.equal((await deployment.sql`SELECT name FROM templates`).length, 0);
  assert.deepEqual((await admin('POST', '/v1/admin/templates/validate', base)).body, { valid: true, template: base });
});

test('the preview renders each channel for a locale, with the SMS encoding and parts; bad variables are refused by path', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await templateAdmin(deployment);
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped())).status, 201);

  const english = await admin('POST', '/v1/admin/templates/order-shipped/preview', { channel: 'sms', variables: { name: 'Ann', order: { id: 'A-1' } } });
  assert.equal(english.status, 200, english.text);
  assert.deepEqual(english.body, {
    template: 'order-shipped',
    version: 1,
    renders: [{ channel: 'sms', locale: 'en', text: 'Hi Ann, order A-1 has shipped.', sms: { encoding: 'gsm-7', parts: 1, units: 30, characters: 30 } }],
  });
  // ru-RU falls back to ru; a Cyrillic text goes as UCS-2, 70 characters a part.
  const long = 'Анна'.repeat(20);
  const russian = await admin('POST', '/v1/admin/templates/order-shipped/preview', { locale: 'ru-RU', channel: 'sms', variables: { name: long, order: { id: '7' } } });
  const [sms] = russian.body.renders;
  assert.equal(sms.locale, 'ru');
  assert.equal(sms.text, `${long}, заказ 7 отправлен.`);
  assert.deepEqual(sms.sms, { encoding: 'ucs-2', parts: 2, units: 100, characters: 100 });
  // No variables: the sample ones; every channel; the e-mail's HTML escaped.
  const sample = await admin('POST', '/v1/admin/templates/order-shipped/preview', {});
  assert.deepEqual(sample.body.renders.map((r: { channel: string }) => r.channel), ['sms', 'email']);
  assert.equal(sample.body.renders[1].html, '<p>Hi Ann</p><ul><li>socks</li></ul>');

  const missing = await admin('POST', '/v1/admin/templates/order-shipped/preview', { variables: { name: 'Ann' } });
  assert.equal(missing.status, 422);
  assert.deepEqual(missing.body.error.problems, [{ path: '/variables/order', message: 'is required' }]);
  const unknown = await admin('POST', '/v1/admin/templates/order-shipped/preview', { variables: { name: 'Ann', order: { id: '1' }, coupon: 'X' } });
  assert.deepEqual(unknown.body.error.problems, [{ path: '/variables/coupon', message: 'is not a variable of this template' }]);

  // A file not saved yet, as `commstrat templates preview <file>` sends it.
  const inline = await admin('POST', '/v1/admin/templates/preview', { template: orderShipped('Draft for {{ name }}'), channel: 'sms' });
  assert.equal(inline.body.renders[0].text, 'Draft for Ann');
  const badInline = await admin('POST', '/v1/admin/templates/preview', { template: { ...orderShipped(), default_locale: 'xx_YY' } });
  assert.equal(badInline.status, 422);
  assert.equal(badInline.body.error.problems[0].path, '/template/default_locale');
});

test('a rollback saves an old version again as the newest, audited as template.rollback; the versions are listed newest first', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await templateAdmin(deployment);
  const changedText = 'Order {{ order.id }} is on its way, {{ name }}.';
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped())).status, 201);
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped(changedText))).status, 201);

  const rolled = await admin('POST', '/v1/admin/templates/order-shipped/rollback', { to_version: 1 });
  assert.equal(rolled.status, 201, rolled.text);
  assert.equal(rolled.body.version, 3);
  assert.deepEqual(rolled.body.definition, (await admin('GET', '/v1/admin/templates/order-shipped?version=1')).body.definition);
  assert.equal((await admin('GET', '/v1/admin/templates/order-shipped')).body.version, 3);
  // Always a new version, even when the newest already says the same.
  const again = await admin('POST', '/v1/admin/templates/order-shipped/rollback', { to_version: 3 });
  assert.deepEqual([again.status, again.body.version], [201, 4]);

  const versions = await admin('GET', '/v1/admin/templates/order-shipped/versions');
  assert.equal(versions.status, 200, versions.text);
  assert.deepEqual(versions.body.versions.map((v: { version: number }) => v.version), [4, 3, 2, 1]);
  assert.match(versions.body.versions[0].created_by, /^api-key:/);
  assert.equal((await admin('GET', '/v1/admin/templates/nope/versions')).status, 404);

  const audit = await deployment.sql<{ details: any }[]>`SELECT details FROM audit WHERE action = 'template.rollback' ORDER BY id`;
  assert.deepEqual(audit.map((row) => [row.details.version, row.details.rolled_back_to, row.details.before.channels.sms.en.text, row.details.after.channels.sms.en.text]), [
    [3, 1, changedText, orderShipped().channels.sms.en.text],
    [4, 3, orderShipped().channels.sms.en.text, orderShipped().channels.sms.en.text],
  ]);

  const missing = await admin('POST', '/v1/admin/templates/order-shipped/rollback', { to_version: 9 });
  assert.equal(missing.status, 404, missing.text);
  const bad = await admin('POST', '/v1/admin/templates/order-shipped/rollback', { to_version: 'one' });
  assert.equal(bad.status, 422, bad.text);
  assert.ok(bad.body.error.problems.some((p: { path: string }) => p.path === '/to_version'), bad.text);
  assert.equal((await admin('POST', '/v1/admin/templates/nope/rollback', { to_version: 1 })).status, 404);
  assert.equal((await deployment.sql`SELECT version FROM templates WHERE name = 'order-shipped'`).length, 4);
});
