import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ProviderUnavailableError, newId, type QueuedMessage } from '@commstrat/core';
import { EgressPolicy } from '@commstrat/egress';
import { ProviderMisconfiguredError, SmtpAdapter } from '@commstrat/providers';
import { allowing } from './harness.ts';
import { headersOf, mailpitEnv, messagesTo, uniqueAddress } from './mailpit.ts';

function email(to: string, content: QueuedMessage['content']): QueuedMessage {
  return {
    id: newId(),
    tenant_id: 'acme',
    channel: 'email',
    strategy: undefined,
    priority: 'normal',
    recipient: { email: to },
    content,
    expires_at: undefined,
  };
}

function adapter(url = mailpitEnv().smtpUrl, egress = allowing(url.replace(/^smtps?/, 'http'))): SmtpAdapter {
  const smtp = new SmtpAdapter({
    id: 'acme/mailpit',
    url,
    egress,
    from: 'Acme <no-reply@acme.test>',
    timeoutMs: 3000,
    concurrency: 2,
  });
  test.after(() => smtp.close());
  return smtp;
}

test('a batch of e-mails reaches Mailpit with its From, To, Subject, text and HTML bodies', async () => {
  const to = uniqueAddress();
  const batch = [
    email(to, { subject: 'Both bodies', text: 'Plain body', html: '<p>HTML <b>body</b></p>' }),
    email(to, { subject: 'Текст only', text: 'Привет, мир' }),
    email(to, { subject: 'HTML only', html: '<h1>Only HTML</h1>' }),
  ];
  const result = await adapter().send(batch);
  assert.equal(result.error, undefined);
  assert.deepEqual(
    result.outcomes.map((o) => o.outcome),
    ['accepted', 'accepted', 'accepted'],
  );
  assert.deepEqual(
    result.outcomes.map((o) => (o.outcome === 'accepted' ? o.providerMessageId : '')),
    batch.map((m) => `<${m.id}@acme.test>`),
  );
  const exchange = JSON.parse(result.exchange.response) as {
    message_id: string;
    response: string;
  }[];
  assert.match(exchange[0]?.response ?? '', /^250 /);

  const received = await messagesTo(to, 3);
  const bySubject = new Map(received.map((m) => [m.Subject, m]));
  const both = bySubject.get('Both bodies');
  assert.ok(both, `received: ${[...bySubject.keys()].join(', ')}`);
  assert.deepEqual(both.From, { Name: 'Acme', Address: 'no-reply@acme.test' });
  assert.deepEqual(
    both.To.map((a) => a.Address),
    [to],
  );
  assert.equal(both.Text.trim(), 'Plain body');
  assert.equal(both.HTML.trim(), '<p>HTML <b>body</b></p>');
  assert.equal(both.MessageID, `${batch[0]?.id}@acme.test`);
  assert.deepEqual((await headersOf(both.ID))['X-Commstrat-Message-Id'], [batch[0]?.id]);
  assert.equal(bySubject.get('Текст only')?.Text.trim(), 'Привет, мир');
  assert.equal(bySubject.get('HTML only')?.HTML.trim(), '<h1>Only HTML</h1>');
});

test('a recipient the server refuses with 550 is rejected for good; the rest of the batch still goes', async () => {
  const to = uniqueAddress();
  const refused = `refused-${to}`;
  const batch = [
    email(refused, { subject: 'No', text: 'x' }),
    email(to, { subject: 'Yes', text: 'y' }),
  ];
  const result = await adapter().send(batch);
  assert.equal(result.error, undefined);
  const [first, second] = result.outcomes;
  assert.equal(first?.outcome, 'rejected');
  assert.match(first?.outcome === 'rejected' ? first.reason : '', /^smtp_550/);
  assert.equal(second?.outcome, 'accepted');
  assert.equal((await messagesTo(to, 1))[0]?.Subject, 'Yes');
});

test('an SMTP server that cannot be reached fails the batch as retryable', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const result = await adapter(`smtp://127.0.0.1:${port}`).send([
    email(uniqueAddress(), { subject: 's', text: 't' }),
  ]);
  assert.ok(result.error instanceof ProviderUnavailableError, String(result.error));
  assert.equal(result.error.retryable, true);
  assert.deepEqual(result.outcomes, []);
});

test('a batch travels over one pooled connection, and the next batch reuses it', async () => {
  // A TCP relay in front of Mailpit counts the SMTP connections the adapter opens.
  const target = new URL(mailpitEnv().smtpUrl);
  let connections = 0;
  const relay = createServer((client) => {
    connections += 1;
    const upstream = connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  test.after(() => new Promise((resolve) => relay.close(resolve)));
  const { port } = relay.address() as AddressInfo;
  const smtp = adapter(`smtp://127.0.0.1:${port}`);
  const to = uniqueAddress();
  const batch = () =>
    Array.from({ length: 10 }, (_, i) => email(to, { subject: `n${i}`, text: 'x' }));
  const first = await smtp.send(batch());
  const second = await smtp.send(batch());
  assert.equal(first.error, undefined);
  assert.equal(second.error, undefined);
  assert.equal(connections, 1, 'twenty messages, one connection');
  assert.equal((await messagesTo(to, 20)).length, 20);
});

test('an SMTP server on an address the egress policy refuses is never connected to: the batch is misconfigured', async () => {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.end('220 listening\r\n');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  test.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  for (const url of [`smtp://127.0.0.1:${port}`, `smtp://localhost:${port}`, `smtps://2130706433:${port}`]) {
    const result = await adapter(url, new EgressPolicy()).send([email(uniqueAddress(), { subject: 'never sent', text: 'x' })]);
    assert.ok(result.error instanceof ProviderMisconfiguredError, `${url}: ${String(result.error)}`);
    assert.match(result.error.message, /loopback address/);
  }
  assert.equal(connections, 0);
});
