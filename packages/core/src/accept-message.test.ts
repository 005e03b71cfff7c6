import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptMessage } from './accept-message.ts';
import { stepContent } from './cascade.ts';
import { toQueuedMessage } from './message.ts';
import { validateStrategy } from './strategy.ts';
import { validateMessageRequest } from './validate-message.ts';

const now = new Date('2026-06-01T12:00:00Z');
const context = { id: '01J0000000000000000000000A', tenantId: 't1', batchId: 'r1', now };
const request = (extra: object) =>
  validateMessageRequest(
    { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' }, ...extra },
    now,
  );

test('a message without send_at is queued, with accepted and queued on its timeline', () => {
  const message = acceptMessage(request({}), context);
  assert.equal(message.status, 'queued');
  assert.deepEqual(
    message.timeline.map((e) => e.status),
    ['accepted', 'queued'],
  );
});

test('a future send_at makes the message scheduled', () => {
  assert.equal(acceptMessage(request({ send_at: '2026-06-01T13:00:00Z' }), context).status, 'scheduled');
  assert.equal(acceptMessage(request({ send_at: '2026-06-01T11:00:00Z' }), context).status, 'queued');
});

test('ttl becomes expires_at counted from acceptance', () => {
  const message = acceptMessage(request({ ttl: 90 }), context);
  assert.equal(message.expires_at?.toISOString(), '2026-06-01T12:01:30.000Z');
});

test('an SMS records its encoding and part count; an e-mail does not', () => {
  const sms = (text: string) => acceptMessage(request({ content: { text } }), context).sms;
  assert.deepEqual(sms('Код: 1234'), { encoding: 'ucs-2', units: 9, parts: 1 });
  assert.deepEqual(sms('a'.repeat(161)), { encoding: 'gsm-7', units: 161, parts: 2 });
  const email = validateMessageRequest(
    { channel: 'email', recipient: { email: 'a@example.com' }, content: { subject: 'Hi', text: 'hello' } },
    now,
  );
  assert.equal(acceptMessage(email, context).sms, undefined);
});

test('a message its templates rendered is pinned to the strategy version, keeps its locale, and counts the rendered SMS text', () => {
  const steps = [
    { step: 0, channel: 'sms' as const, template: 'otp', template_version: 2, locale: 'ru', content: { template_id: 'otp', text: 'Ваш код 1234' } },
  ];
  const message = acceptMessage(request({ content: { template_id: 'otp', variables: { code: '1234' } } }), {
    ...context,
    rendered: { locale: 'ru-RU', steps, strategy: 'otp-sms', strategyVersion: 4 },
  });
  assert.equal(message.strategy, 'otp-sms');
  assert.equal(message.strategy_version, 4);
  assert.equal(message.locale, 'ru-RU');
  assert.deepEqual(message.rendered_steps, steps);
  assert.deepEqual(message.sms, { encoding: 'ucs-2', units: 12, parts: 1 });
});

test("a templated message's lane form carries only the rendered fields, and each step sends from it exactly what intake rendered", () => {
  const strategy = validateStrategy({
    name: 'order-updates',
    channel: 'sms',
    steps: [
      { route: { mode: 'failover', providers: ['sms-a'] }, next: { on: 'no_receipt', within_seconds: 60 } },
      { channel: 'email', content: { template_id: 'order-mail' }, route: { mode: 'failover', providers: ['mail'] } },
    ],
  });
  const variables = { order: { id: 'A-7' } };
  // As template-intake.ts builds them: the template's fields over the step's content.
  const steps = [
    { step: 0, channel: 'sms' as const, template: 'order', template_version: 2, locale: 'ru', content: { template_id: 'order', variables, text: 'Заказ A-7 отправлен' } },
    { step: 1, channel: 'email' as const, template: 'order-mail', template_version: 1, locale: 'ru', content: { template_id: 'order-mail', variables, subject: 'Заказ A-7', html: '<p>Заказ A-7 отправлен</p>' } },
  ];
  const message = acceptMessage(request({ channel: undefined, strategy: 'order-updates', content: { template_id: 'order', variables } }), {
    ...context,
    rendered: { steps, strategy: 'order-updates', strategyVersion: 1 },
  });
  const queued = toQueuedMessage(message);
  assert.deepEqual(queued.rendered_steps, [
    { step: 0, channel: 'sms', content: { text: 'Заказ A-7 отправлен' } },
    { step: 1, channel: 'email', content: { subject: 'Заказ A-7', html: '<p>Заказ A-7 отправлен</p>' } },
  ]);
  for (const rendered of steps) assert.deepEqual(stepContent(queued, strategy, rendered.step), rendered.content, `step ${rendered.step}`);
});

