import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@commstrat/core';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import type { Sql } from 'postgres';
import { eventually } from './harness.ts';
import { headersOf, mailpitEnv, messagesTo, uniqueAddress } from './mailpit.ts';
import { startDeployment, LOOPBACK } from './services.ts';

const mailpitProvider = (): ProviderInput => ({
  id: 'mailpit',
  kind: 'smtp',
  endpoint: mailpitEnv().smtpUrl,
  credentials: { from: 'Acme Receipts <receipts@acme.test>' },
  ratePerSecond: 100,
  concurrency: 2,
  maxBatchSize: 20,
  lingerMs: 20,
  timeoutMs: 5000,
});

/** The tenant's e-mail provider and default e-mail strategy, before any message is sent. */
async function emailRouting(sql: Sql, tenantId: string): Promise<void> {
  await upsertProvider(sql, tenantId, mailpitProvider());
  await saveStrategy(
    sql,
    tenantId,
    {
      name: 'email-default',
      channel: 'email',
      steps: [{ route: { mode: 'failover', providers: ['mailpit'] }, ttl_seconds: 3600 }],
    },
    { defaultForChannel: true },
  );
}

test('an e-mail accepted over REST is dispatched over SMTP to Mailpit, read back with its headers and bodies, and journaled sent', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  await emailRouting(deployment.sql, deployment.tenantId);
  const to = uniqueAddress();
  const accepted = await deployment.api('POST', '/v1/messages', {
    channel: 'email',
    recipient: { email: to },
    content: {
      subject: 'Your receipt #42',
      text: 'Total: 12.50 EUR',
      html: '<p>Total: <b>12.50 EUR</b></p>',
    },
  });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const id = accepted.body.id as string;

  const [mail] = await messagesTo(to, 1);
  assert.ok(mail);
  assert.deepEqual(mail.From, { Name: 'Acme Receipts', Address: 'receipts@acme.test' });
  assert.deepEqual(
    mail.To.map((a) => a.Address),
    [to],
  );
  assert.equal(mail.Subject, 'Your receipt #42');
  assert.equal(mail.Text.trim(), 'Total: 12.50 EUR');
  assert.equal(mail.HTML.trim(), '<p>Total: <b>12.50 EUR</b></p>');
  assert.deepEqual((await headersOf(mail.ID))['X-Commstrat-Message-Id'], [id]);

  const view = await eventually('the message journaled sent', async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${id}`);
    return body.status === 'sent' ? body : undefined;
  });
  const sent = view.timeline.find((event: { status: string }) => event.status === 'sent');
  assert.equal(sent.provider, 'mailpit');
  assert.equal(sent.provider_message_id, `<${id}@acme.test>`);
  assert.equal(view.sms, undefined, 'an e-mail has no SMS parts');
});

test('a batch of e-mails goes out, and a recipient the server refuses ends failed with the SMTP reply', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  await emailRouting(deployment.sql, deployment.tenantId);
  const addresses = Array.from({ length: 5 }, () => uniqueAddress());
  const refused = `refused-${uniqueAddress()}`;
  const messages = [...addresses, refused].map((to, i) => ({
    channel: 'email',
    recipient: { email: to },
    content: { subject: `Newsletter ${i}`, text: `Issue ${i}` },
    priority: 'bulk',
  }));
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages });
  assert.equal(status, 202, JSON.stringify(body));
  for (const [i, to] of addresses.entries())
    assert.equal((await messagesTo(to, 1))[0]?.Subject, `Newsletter ${i}`);

  const refusedId = body.accepted[5].id as string;
  const failed = await eventually('the refused e-mail failed', async () => {
    const view = await deployment.api('GET', `/v1/messages/${refusedId}`);
    return view.body.status === 'failed' ? view.body : undefined;
  });
  assert.match(failed.timeline.at(-1).reason, /smtp_550/);
});

test('attachments by URL are refused with 422 attachments_not_supported at /content/attachments', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  await emailRouting(deployment.sql, deployment.tenantId);
  const { status, body } = await deployment.api('POST', '/v1/messages', {
    channel: 'email',
    recipient: { email: uniqueAddress() },
    content: {
      subject: 'Invoice',
      text: 'attached',
      attachments: [{ url: 'https://files.example.test/invoice.pdf' }],
    },
  });
  assert.equal(status, 422);
  assert.equal(body.error.code, 'attachments_not_supported');
  assert.deepEqual(
    body.error.problems.map((p: { path: string }) => p.path),
    ['/content/attachments'],
  );
});

test('an smtp provider row without an SMTP URL or a sender is refused with the fields named', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  await assert.rejects(
    upsertProvider(deployment.sql, deployment.tenantId, {
      ...mailpitProvider(),
      endpoint: 'http://127.0.0.1:1',
      credentials: {},
    }),
    (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.deepEqual(
        error.problems.map((p) => p.path),
        ['/endpoint', '/credentials/from'],
      );
      return true;
    },
  );
});
