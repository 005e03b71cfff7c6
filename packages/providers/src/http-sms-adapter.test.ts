import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { ProviderRejectedError, ProviderUnavailableError, type QueuedMessage } from '@commstrat/core';
import { EgressAllowList, EgressPolicy } from '@commstrat/egress';
import { ProviderMisconfiguredError } from './definition/auth.ts';
import { HttpSmsAdapter } from './http-sms-adapter.ts';

/** These tests' providers listen on loopback, which the egress policy lets through only when told. */
const LOOPBACK_ALLOWED = new EgressPolicy(EgressAllowList.parse('127.0.0.1'));

// The adapter against a real HTTP server on loopback whose answers each test picks: what
// the client does with each kind of answer is the point here, not the provider (the
// integration tests use the sandbox provider for that).

interface Seen {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly socket: unknown;
}

type Answer = (seen: Seen, res: http.ServerResponse) => void;

async function provider(t: TestContext, answer: Answer): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body, socket: req.socket };
      seen.push(request);
      answer(request, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function adapter(t: TestContext, url: string, timeoutMs = 2000, egress = LOOPBACK_ALLOWED): HttpSmsAdapter {
  const sms = new HttpSmsAdapter({ id: 't1/p1', baseUrl: url, token: 'secret', timeoutMs, egress });
  t.after(() => sms.close());
  return sms;
}

function message(id: string, phone = '+79161234567'): QueuedMessage {
  return { id, tenant_id: 't1', channel: 'sms', strategy: undefined, priority: 'normal', recipient: { phone }, content: { text: `text of ${id}` }, expires_at: undefined };
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

test('a batch goes as one request with the token and an id digest as idempotency key, and each item gets its outcome', async (t) => {
  const { url, seen } = await provider(t, ({ body }, res) => {
    const items = (JSON.parse(body) as { messages: { client_ref: string }[] }).messages;
    json(res, 200, {
      results: items
        .filter((item) => item.client_ref !== 'm3')
        .map((item) =>
          item.client_ref === 'm2'
            ? { client_ref: item.client_ref, status: 'rejected', error: { code: 'invalid_number' } }
            : { client_ref: item.client_ref, status: 'accepted', message_id: `p-${item.client_ref}` },
        ),
    });
  });
  const result = await adapter(t, url).send([message('m1'), message('m2'), message('m3')]);
  assert.equal(result.error, undefined);
  assert.deepEqual(result.outcomes, [
    { messageId: 'm1', outcome: 'accepted', providerMessageId: 'p-m1' },
    { messageId: 'm2', outcome: 'rejected', reason: 'invalid_number' },
    { messageId: 'm3', outcome: 'rejected', reason: 'missing_from_provider_response' },
  ]);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.headers.authorization, 'Bearer secret');
  assert.equal(seen[0]?.headers['idempotency-key'], createHash('sha256').update('m1,m2,m3').digest('hex'));
  assert.equal(result.exchange.request, seen[0]?.body, 'the journal keeps the body byte for byte');
  assert.equal(result.exchange.httpStatus, 200);
  assert.match(result.exchange.response, /p-m1/);
});

test('requests one after another reuse the kept-alive connection', async (t) => {
  const { url, seen } = await provider(t, (_seen, res) => json(res, 200, { results: [] }));
  const sms = adapter(t, url);
  await sms.send([message('m1')]);
  await sms.send([message('m2')]);
  assert.equal(seen.length, 2);
  assert.equal(seen[0]?.socket, seen[1]?.socket);
});

test('429 and 5xx are retryable with the Retry-After seconds; other 4xx are permanent', async (t) => {
  const statuses = [
    [429, { 'retry-after': '7' }],
    [503, {}],
    [400, {}],
  ] as const;
  let next = 0;
  const { url } = await provider(t, (_seen, res) => {
    const [status, headers] = statuses[next++] ?? [500, {}];
    json(res, status, { error: { code: 'x' } }, headers);
  });
  const sms = adapter(t, url);
  const throttled = await sms.send([message('m1')]);
  assert.ok(throttled.error instanceof ProviderUnavailableError);
  assert.equal(throttled.error.retryAfterSeconds, 7);
  assert.equal(throttled.error.retryable, true);
  assert.equal(throttled.exchange.httpStatus, 429);
  const down = await sms.send([message('m1')]);
  assert.ok(down.error instanceof ProviderUnavailableError);
  assert.equal(down.error.retryAfterSeconds, undefined);
  const refused = await sms.send([message('m1')]);
  assert.ok(refused.error instanceof ProviderRejectedError);
  assert.equal(refused.error.retryable, false);
  assert.deepEqual(refused.outcomes, []);
});

test('an answer slower than the time limit is a retryable timeout, recorded as such', async (t) => {
  const { url } = await provider(t, (_seen, res) => setTimeout(() => json(res, 200, { results: [] }), 500));
  const started = Date.now();
  const result = await adapter(t, url, 100).send([message('m1')]);
  assert.ok(result.error instanceof ProviderUnavailableError);
  assert.match(result.error.message, /did not answer in time/);
  assert.ok(Date.now() - started < 450, 'the request was given up at its limit, not at the answer');
  assert.equal(result.exchange.httpStatus, undefined);
  assert.match(result.exchange.response, /within 100 ms/);
});

test('a provider nobody listens for is unreachable, not a crash', async (t) => {
  const { url } = await provider(t, (_seen, res) => json(res, 200, {}));
  const closed = http.createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  await once(closed, 'close');
  const result = await adapter(t, url.replace(/:\d+$/, `:${port}`)).send([message('m1')]);
  assert.ok(result.error instanceof ProviderUnavailableError);
  assert.match(result.error.message, /unreachable/);
});

test('a success status with a body that is not JSON is kept as text and the batch is retryable', async (t) => {
  const { url } = await provider(t, (_seen, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>maintenance</html>');
  });
  const result = await adapter(t, url).send([message('m1')]);
  assert.equal(result.exchange.response, '<html>maintenance</html>');
  // Nothing says whether the provider took the message: failing it would lose what a retry can send.
  assert.ok(result.error instanceof ProviderUnavailableError);
  assert.match(result.error.message, /not a batch result/);
  assert.deepEqual(result.outcomes, []);
});

test('an endpoint the egress policy refuses is never connected to, and the batch fails as misconfigured', async (t) => {
  const { url, seen } = await provider(t, (_seen, res) => json(res, 200, { results: [] }));
  let connections = 0;
  const port = new URL(url).port;
  for (const endpoint of [url, `http://localhost:${port}`, `http://2130706433:${port}`]) {
    const result = await adapter(t, endpoint, 2000, new EgressPolicy()).send([message('m1')]);
    assert.ok(result.error instanceof ProviderMisconfiguredError, endpoint);
    assert.equal(result.error.retryable, false);
    assert.match(result.error.message, /loopback address/);
    assert.match(result.exchange.response, /egress refused \(loopback\)/);
    connections += seen.length;
  }
  assert.equal(connections, 0);
});

test('a refusal body is copied into the error as a short masked excerpt, not whole', async (t) => {
  const echo = { error: 'bad request', to: '+79161234567', text: 'Your code is 1234', token: 'sk_live_abcdefghijklmnop', padding: 'x'.repeat(5000) };
  const { url } = await provider(t, (_seen, res) => json(res, 400, echo));
  const result = await adapter(t, url).send([message('m1')]);
  assert.ok(result.error instanceof ProviderRejectedError);
  const text = result.error.message;
  assert.ok(text.length < 400, `the message is bounded (${text.length} chars)`);
  assert.doesNotMatch(text, /\+79161234567|Your code is 1234|sk_live_abcdefghijklmnop/);
  assert.match(text, /bad request/);
  assert.match(result.exchange.response, /sk_live_abcdefghijklmnop/, 'the exchange journal keeps the answer as it came');
});
