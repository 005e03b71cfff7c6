// Messages that name a template, through a real ingest, dispatcher and sandbox: rendered
// at intake in the recipient's locale (with its fallback), pinned in the journal to the
// template version that rendered them, reloaded on NOTIFY, and refused with the path of
// every missing, wrong or unknown variable, an unknown template, or hostile Liquid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy } from '@commstrat/config';
import { eventually } from './harness.ts';
import { startDeployment, type Deployment } from './services.ts';
import { acceptOnceSeen, orderShipped, templateAdmin } from './template-support.ts';

const variables = { name: 'Anna', order: { id: 'A-7' } };
const message = (recipient: object = {}, content: object = {}) => ({
  channel: 'sms',
  recipient: { phone: '+79161234567', ...recipient },
  content: { template_id: 'order-shipped', variables, ...content },
});

async function sentText(deployment: Deployment, id: string): Promise<string | undefined> {
  return eventually(`message ${id} at the sandbox`, () => Promise.resolve(deployment.sandbox.received.list({ clientRef: id })[0]?.text));
}

test('a templated SMS is rendered at intake in the recipient locale, falling back ru-RU to ru, else the tenant default, else the template default', async () => {
  const deployment = await startDeployment();
  const admin = await templateAdmin(deployment);
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped())).status, 201);

  const russian = await acceptOnceSeen(deployment, message({ locale: 'ru-RU' }));
  assert.equal(await sentText(deployment, russian), 'Anna, заказ A-7 отправлен.');
  const view = (await deployment.api('GET', `/v1/messages/${russian}`)).body;
  assert.equal(view.locale, 'ru-RU');
  assert.deepEqual(view.templates, [{ step: 0, channel: 'sms', template: 'order-shipped', version: 1, locale: 'ru' }]);
  assert.equal(view.strategy, 'sms-default');
  assert.equal(view.strategy_version, 1, 'pinned to the strategy version it was rendered for');
  assert.deepEqual(view.sms, { encoding: 'ucs-2', parts: 1, units: 26 }, 'the rendered text is what is counted');
  const journaled = await deployment.db.collection('messages').findOne({ _id: russian as never });
  assert.equal(journaled?.['rendered_steps'][0].content.text, 'Anna, заказ A-7 отправлен.');

  const english = await acceptOnceSeen(deployment, message({ locale: 'de-AT' }));
  assert.equal(await sentText(deployment, english), 'Hi Anna, order A-7 has shipped.', 'no de-AT, no de: the template default');
  assert.equal((await admin('PATCH', '/v1/admin/tenant', { default_locale: 'ru' })).status, 200);
  const byTenant = await eventually('the tenant default to reach ingest', async () => {
    const id = await acceptOnceSeen(deployment, message());
    const seen = (await deployment.api('GET', `/v1/messages/${id}`)).body;
    return seen.locale === 'ru' ? seen : undefined;
  });
  assert.equal(byTenant.templates[0].locale, 'ru');
});

test('a message stays pinned to the template version that rendered it; a new version reaches ingest by NOTIFY', async () => {
  // No periodic refresh within the test: only the NOTIFY of the save can bring version 2.
  const deployment = await startDeployment({ dispatcher: false, env: { COMMSTRAT_CONFIG_REFRESH_MS: '600000' } });
  const admin = await templateAdmin(deployment);
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped())).status, 201);
  const early = await acceptOnceSeen(deployment, message());
  assert.equal((await deployment.api('GET', `/v1/messages/${early}`)).body.strategy_version, 1, 'pinned at intake, before any dispatcher routed it');
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped('v2: {{ order.id }} shipped'))).status, 201);
  const late = await eventually('ingest to render version 2', async () => {
    const id = await acceptOnceSeen(deployment, message());
    return (await deployment.api('GET', `/v1/messages/${id}`)).body.templates[0].version === 2 ? id : undefined;
  });
  await deployment.startDispatcher();
  assert.equal(await sentText(deployment, early), 'Hi Anna, order A-7 has shipped.', 'rendered by version 1 before version 2 was saved');
  assert.equal(await sentText(deployment, late), 'v2: A-7 shipped');
  assert.equal((await deployment.api('GET', `/v1/messages/${early}`)).body.templates[0].version, 1);
});

test('missing, wrong and unknown variables and an unknown template are refused with 422 naming the path; a batch refuses only those items', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await templateAdmin(deployment);
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped())).status, 201);
  await acceptOnceSeen(deployment, message());
  const cases: [object, { path: string; message: RegExp }[]][] = [
    [{ variables: { name: 'Anna', order: {} } }, [{ path: '/content/variables/order/id', message: /is required \(template "order-shipped"\)/ }]],
    [{ variables: { name: 42, order: { id: 'A-7' } } }, [{ path: '/content/variables/name', message: /must be string/ }]],
    [{ variables: { ...variables, coupon: 'SAVE' } }, [{ path: '/content/variables/coupon', message: /is not a variable of this template/ }]],
    [{ variables: undefined }, [{ path: '/content/variables/name', message: /is required/ }, { path: '/content/variables/order', message: /is required/ }]],
    [{ template_id: 'order-shiped' }, [{ path: '/content/template_id', message: /names no template of this tenant: "order-shiped"/ }]],
  ];
  for (const [content, expected] of cases) {
    const refused = await deployment.api('POST', '/v1/messages', message({}, content));
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'validation_failed');
    assert.equal(refused.body.error.problems.length, expected.length, JSON.stringify(refused.body));
    expected.forEach((want, i) => {
      assert.equal(refused.body.error.problems[i].path, want.path);
      assert.match(refused.body.error.problems[i].message, want.message);
    });
  }
  const batch = await deployment.api('POST', '/v1/messages/batch', { messages: [message(), message({}, { variables: { name: 'x' } }), message()] });
  assert.equal(batch.status, 207);
  assert.deepEqual(batch.body.accepted.map((a: { index: number }) => a.index), [0, 2]);
  assert.equal(batch.body.rejected[0].error.problems[0].path, '/content/variables/order');
});

test('hostile Liquid driven by the variables is refused within the render limit, never hangs intake, and the render budget bounds a batch of them', async () => {
  const deployment = await startDeployment({ dispatcher: false, env: { INGEST_TEMPLATE_RENDER_BUDGET_MS: '300' } });
  const admin = await templateAdmin(deployment);
  const hostile = {
    ...orderShipped(),
    name: 'loops',
    variables: { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string' } } },
    sample_variables: { n: 1, s: 'x' },
    channels: { sms: { en: { text: '{% for i in (1..n) %}{% for j in (1..n) %}{{ s }}{% endfor %}{% endfor %}' } } },
  };
  assert.equal((await admin('PUT', '/v1/admin/templates/loops', hostile)).status, 201, 'harmless with its samples');
  const loops = (n: number, s = 'x') => message({}, { template_id: 'loops', variables: { n, s } });
  await acceptOnceSeen(deployment, loops(2));

  const started = Date.now();
  const slow = await deployment.api('POST', '/v1/messages', loops(100_000));
  assert.equal(slow.status, 422, JSON.stringify(slow.body));
  assert.equal(slow.body.error.code, 'template_render_failed');
  assert.equal(slow.body.error.problems[0].path, '/content/template_id');
  assert.match(slow.body.error.problems[0].message, /template "loops" version 1 \(sms, en\) text: .*limit exceeded/);
  const huge = await deployment.api('POST', '/v1/messages', loops(300, 'xxxxxxxxxx'));
  assert.match(huge.body.error.message, /renders 900000 characters; a message's text may have at most 10000|limit exceeded/);
  assert.ok(Date.now() - started < 5000, `refused in ${Date.now() - started} ms`);

  // 40 hostile messages in one batch would take 40 x 50 ms; the budget stops at 300 ms.
  const batchStarted = Date.now();
  const batch = await deployment.api('POST', '/v1/messages/batch', { messages: [...Array.from({ length: 40 }, () => loops(100_000)), loops(2)] });
  const took = Date.now() - batchStarted;
  assert.equal(batch.status, 422, JSON.stringify(batch.body).slice(0, 500));
  const reasons = batch.body.rejected.map((r: { error: { problems: { message: string }[] } }) => r.error.problems[0]?.message ?? '');
  assert.ok(reasons.some((m: string) => /spent its template render time/.test(m)), reasons.join('\n'));
  assert.ok(took < 1500, `the batch answered after ${took} ms`);
  assert.equal((await deployment.api('POST', '/v1/messages', loops(2))).status, 202, 'the next request renders again');
});

test("a strategy step may name its own template: each step renders its channel's variant of the template it names", async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await templateAdmin(deployment);
  const mail = {
    name: 'shipped-mail',
    default_locale: 'en',
    variables: orderShipped().variables,
    channels: { email: { en: { subject: 'Shipped: {{ order.id }}', text: 'Dear {{ name }}, {{ order.id }} is on its way.' } } },
  };
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped())).status, 201);
  assert.equal((await admin('PUT', '/v1/admin/templates/shipped-mail', mail)).status, 201);
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'shipping',
    channel: 'sms',
    steps: [
      { route: { mode: 'failover', providers: ['sandbox-sms'] }, next: { on: 'failure' } },
      { channel: 'email', content: { template_id: 'shipped-mail' }, route: { mode: 'failover', providers: ['sandbox-sms'] } },
    ],
  });
  const id = await acceptOnceSeen(deployment, { strategy: 'shipping', recipient: { phone: '+79161234567', email: 'anna@example.test' }, content: { template_id: 'order-shipped', variables } });
  const journaled = await deployment.db.collection('messages').findOne({ _id: id as never });
  assert.deepEqual(
    journaled?.['rendered_steps'].map((s: any) => [s.step, s.channel, s.template, s.locale, s.content.subject ?? null, s.content.text]),
    [
      [0, 'sms', 'order-shipped', 'en', null, 'Hi Anna, order A-7 has shipped.'],
      [1, 'email', 'shipped-mail', 'en', 'Shipped: A-7', 'Dear Anna, A-7 is on its way.'],
    ],
  );
  // A step naming a template without content for its channel: refused at intake, not at the provider.
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'shipping',
    channel: 'sms',
    steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, content: { template_id: 'shipped-mail' } }],
  });
  const refused = await eventually('the new strategy version at ingest', async () => {
    const answer = await deployment.api('POST', '/v1/messages', { strategy: 'shipping', recipient: { phone: '+79161234567' }, content: { variables } });
    return answer.status === 422 ? answer : undefined;
  });
  assert.deepEqual(refused.body.error.problems, [
    { path: '/strategy', message: 'template "shipped-mail" has no sms content, which step 0 sends (it has: email) (named by step 0 of strategy "shipping")' },
  ]);
});
