// Hostile REST input against a real ingest: each refusal is a specific 4xx with a code
// (and a field path where there is one), nothing is journaled, and the server stays up.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startDeployment, type Deployment } from './services.ts';

const sms = (extra: object = {}) => ({
  channel: 'sms',
  recipient: { phone: '+79161234567' },
  content: { text: 'hello' },
  ...extra,
});

/** POSTs raw bytes as the test tenant. */
async function postBytes(deployment: Deployment, path: string, body: Uint8Array, contentType = 'application/json') {
  const response = await fetch(`${deployment.ingest.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${deployment.apiKey}`, 'content-type': contentType },
    body,
  });
  return { status: response.status, body: (await response.json()) as any };
}

const deep = (levels: number) => `${'{"a":['.repeat(levels)}1${']}'.repeat(levels)}`;

async function journaledCount(deployment: Deployment): Promise<number> {
  const listed = await deployment.api('GET', '/v1/messages?limit=1000');
  assert.equal(listed.status, 200);
  return listed.body.messages.length;
}

test('a body nested thousands of levels deep is 400 nesting_too_deep, never 503, over single and batch', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const single = `{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"x"},"metadata":${deep(3000)}}`;
  const one = await postBytes(deployment, '/v1/messages', Buffer.from(single));
  assert.equal(one.status, 400);
  assert.equal(one.body.error.code, 'nesting_too_deep');
  const batch = await postBytes(deployment, '/v1/messages/batch', Buffer.from(`{"messages":[${single}]}`));
  assert.equal(batch.status, 400);
  assert.equal(batch.body.error.code, 'nesting_too_deep');
  // Just inside the limit is accepted: the limit, not any nesting, is what refuses.
  const shallow = await deployment.api('POST', '/v1/messages', sms({ metadata: JSON.parse(deep(10)) }));
  assert.equal(shallow.status, 202);
  assert.equal(await journaledCount(deployment), 1);
});

test('a body the journal cannot store (over the document size once journaled) is 422 input_not_storable, not 503', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  // 6 MB of JSON that is some 50 MB as a BSON document (each array item carries its index as a key).
  const zeros = Array.from({ length: 3_000_000 }, () => 0);
  const response = await deployment.api('POST', '/v1/messages', sms({ metadata: { zeros } }));
  assert.equal(response.status, 422, JSON.stringify(response.body));
  assert.equal(response.body.error.code, 'input_not_storable');
  assert.equal(await journaledCount(deployment), 0);
  assert.equal((await deployment.api('POST', '/v1/messages', sms())).status, 202, 'the next request is accepted');
});

test('invalid UTF-8 in content.text is refused with 400 invalid_encoding, never stored changed', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const bytes = Buffer.concat([
    Buffer.from('{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"caf'),
    Buffer.from([0xe9]), // Latin-1 é: not UTF-8
    Buffer.from('"}}'),
  ]);
  const refused = await postBytes(deployment, '/v1/messages', bytes);
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error.code, 'invalid_encoding');
  assert.match(refused.body.error.message, /offset/);

  const surrogate = await postBytes(deployment, '/v1/messages', Buffer.from(JSON.stringify(sms()).replace('hello', 'a\\ud800b')));
  assert.equal(surrogate.status, 400);
  assert.equal(surrogate.body.error.code, 'invalid_encoding');
  assert.deepEqual(surrogate.body.error.problems.map((p: { path: string }) => p.path), ['/content/text']);

  const latin1 = await postBytes(deployment, '/v1/messages', Buffer.from(JSON.stringify(sms())), 'application/json; charset=iso-8859-1');
  assert.equal(latin1.status, 415);
  assert.equal(latin1.body.error.code, 'unsupported_media_type');
  assert.equal(await journaledCount(deployment), 0);

  const text = 'Grüße, 世界 😀';
  const accepted = await postBytes(deployment, '/v1/messages', Buffer.from(JSON.stringify(sms({ content: { text } }))), 'application/json; charset=utf-8');
  assert.equal(accepted.status, 202);
  const stored = await deployment.journal.findMessage(deployment.tenantId, accepted.body.id);
  assert.equal(stored?.content.text, text, 'text stored as sent');
});

test('expires_at at or before send_at is 422 naming /expires_at; a ttl shorter than the wait names /ttl', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const sendAt = new Date(Date.now() + 3600_000);
  for (const expiresAt of [new Date(sendAt.getTime() - 1000), sendAt]) {
    const response = await deployment.api('POST', '/v1/messages', sms({ send_at: sendAt.toISOString(), expires_at: expiresAt.toISOString() }));
    assert.equal(response.status, 422);
    assert.equal(response.body.error.code, 'validation_failed');
    assert.deepEqual(response.body.error.problems.map((p: { path: string }) => p.path), ['/expires_at']);
  }
  const ttl = await deployment.api('POST', '/v1/messages', sms({ send_at: sendAt.toISOString(), ttl: 60 }));
  assert.equal(ttl.status, 422);
  assert.deepEqual(ttl.body.error.problems.map((p: { path: string }) => p.path), ['/ttl']);
  const later = await deployment.api('POST', '/v1/messages', sms({ send_at: sendAt.toISOString(), expires_at: new Date(sendAt.getTime() + 1000).toISOString() }));
  assert.equal(later.status, 202);
  assert.equal(later.body.status, 'scheduled');
});

test('numbers that are not numbers and time zones that do not exist are 422 with their paths', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const cases: [string, string][] = [
    ['{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"x"},"ttl":"60"}', '/ttl'],
    ['{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"x"},"ttl":1e400}', '/ttl'],
    ['{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"x"},"ttl":1.5}', '/ttl'],
    ['{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"x"},"ttl":-0}', '/ttl'],
    ['{"channel":"sms","recipient":{"phone":"+79161234567","time_zone":"Mars/Olympus_Mons"},"content":{"text":"x"}}', '/recipient/time_zone'],
    ['{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"x"},"send_at":"2026-02-30T10:00:00Z"}', '/send_at'],
  ];
  for (const [body, path] of cases) {
    const response = await postBytes(deployment, '/v1/messages', Buffer.from(body));
    assert.equal(response.status, 422, body);
    assert.ok(response.body.error.problems.some((p: { path: string }) => p.path === path), `${body}: ${JSON.stringify(response.body)}`);
  }
  const nan = await postBytes(deployment, '/v1/messages', Buffer.from('{"ttl":NaN}'));
  assert.equal(nan.status, 400);
  assert.equal(nan.body.error.code, 'malformed_json');
  const limit = await deployment.api('GET', '/v1/messages?limit=1e3x');
  assert.equal(limit.status, 422);
  assert.deepEqual(limit.body.error.problems.map((p: { path: string }) => p.path), ['/limit']);
  assert.equal(await journaledCount(deployment), 0);
});

/** Sends raw HTTP on a socket; resolves with what the server answered and whether it closed. */
function rawExchange(url: string, write: (socket: ReturnType<typeof connect>) => void, timeoutMs: number) {
  const { hostname, port } = new URL(url);
  return new Promise<{ response: string; closed: boolean; ms: number }>((resolve) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname);
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closed: false, ms: Date.now() - started });
    }, timeoutMs);
    socket.on('data', (chunk) => (response += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closed: true, ms: Date.now() - started });
    });
    socket.on('connect', () => write(socket));
  });
}

test('a client sending its body a byte at a time is cut off at the request timeout with 408', async () => {
  const deployment = await startDeployment({ dispatcher: false, env: { INGEST_HTTP_REQUEST_TIMEOUT_MS: '1500', INGEST_HTTP_HEADERS_TIMEOUT_MS: '1000' } });
  const body = JSON.stringify(sms());
  const result = await rawExchange(
    deployment.ingest.url,
    (socket) => {
      socket.write(
        `POST /v1/messages HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${deployment.apiKey}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
      );
      let sent = 0;
      const drip = setInterval(() => {
        if (socket.destroyed || sent >= body.length) return clearInterval(drip);
        socket.write(body[sent++] ?? '');
      }, 200);
    },
    10_000,
  );
  assert.ok(result.closed, 'the server closed the connection');
  assert.match(result.response, /^HTTP\/1\.1 408/);
  assert.ok(result.ms < 5000, `cut off after ${result.ms} ms`);
  assert.equal((await deployment.api('POST', '/v1/messages', sms())).status, 202, 'the server still serves');
});

test('a flood of headers is refused with 431 and the server keeps serving', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const headers = Array.from({ length: 3000 }, (_, i) => `x-flood-${i}: ${'v'.repeat(40)}\r\n`).join('');
  const result = await rawExchange(deployment.ingest.url, (socket) => socket.write(`GET /v1/messages HTTP/1.1\r\nhost: x\r\n${headers}\r\n`), 10_000);
  assert.match(result.response, /^HTTP\/1\.1 431/);
  assert.equal((await deployment.api('GET', '/v1/messages')).status, 200);
});
