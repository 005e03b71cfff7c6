import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMasker } from './masking.ts';

const message = {
  id: '01JD0000000000000000000000',
  recipient: { phone: '+79161234567', email: 'jane.doe@example.com' },
  content: { text: 'Your code is 4711', variables: { name: 'Jane', code: 4711 } },
};

test('phone, e-mail and text fields are masked by default, the ids are kept', () => {
  const masked = createMasker()(message) as typeof message;
  assert.equal(masked.id, message.id);
  assert.equal(masked.recipient.phone, '+7916*****67');
  assert.equal(masked.recipient.email, 'j*****@example.com');
  assert.equal(masked.content.text, '[masked, 17 chars]');
  assert.deepEqual(masked.content.variables, {
    name: '[masked, 4 chars]',
    code: '[masked, 4 chars]',
  });
  assert.equal(message.recipient.phone, '+79161234567', 'the logged object itself is unchanged');
});

test('credentials are hidden by field name and by shape in free text', () => {
  const mask = createMasker();
  assert.deepEqual(
    mask({ Authorization: 'Bearer abc.def', 'x-api-key': 'k1', provider: { token: 't0ps3cret' } }),
    {
      Authorization: '*****',
      'x-api-key': '*****',
      provider: { token: '*****' },
    },
  );
  const key = `cs_${'A'.repeat(32)}`;
  assert.equal(mask(`sent with Bearer ${key} for ${key}`), 'sent with Bearer ***** for *****');
  assert.equal(createMasker({ credentials: 'partial' })(key, 'api_key'), 'cs_A*****');
});

test('phone numbers and e-mail addresses inside free text are masked', () => {
  assert.equal(
    createMasker()('sms to +79161234567 and mail to jane.doe@example.com failed'),
    'sms to +7916*****67 and mail to j*****@example.com failed',
  );
});

test('a string holding JSON is masked field by field', () => {
  const body = JSON.stringify({
    messages: [{ client_ref: 'm1', to: '+79161234567', text: 'hello' }],
  });
  assert.equal(
    createMasker()(body, 'request'),
    JSON.stringify({
      messages: [{ client_ref: 'm1', to: '+7916*****67', text: '[masked, 5 chars]' }],
    }),
  );
});

test('each kind is configured on its own: off logs in clear, full hides all, extra fields hide all', () => {
  const mask = createMasker({ phone: 'off', email: 'full', text: 'full', fields: ['order_ref'] });
  assert.deepEqual(mask({ ...message.recipient, text: 'hi', orderRef: 'A-1', order_ref: 'A-2' }), {
    phone: '+79161234567',
    email: '*****',
    text: '[masked]',
    orderRef: '*****',
    order_ref: '*****',
  });
});

test('cycles and errors do not break masking', () => {
  const looped: Record<string, unknown> = { phone: '+79161234567' };
  looped['self'] = looped;
  assert.deepEqual(createMasker()(looped), {
    phone: '+7916*****67',
    self: '[not logged: nested too deep]',
  });
  const masked = createMasker()(new Error('no route to +79161234567')) as { message: string };
  assert.equal(masked.message, 'no route to +7916*****67');
});
