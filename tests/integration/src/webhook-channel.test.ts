import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ProviderUnavailableError, ValidationError, newId } from '@commstrat/core';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import { WebhookAdapter } from '@commstrat/providers';
import { eventually, holdFor, allowing } from './harness.ts';
import { startDeployment, LOOPBACK } from './services.ts';
import { Webhook } from 'standardwebhooks';

const SECRET = 'whsec_0123456789abcdef';
const REPLAY_WINDOW_SECONDS = 300;

interface Delivery {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/**
 * The receiver's side, as docs/providers.md tells a tenant to write it: split the header
 * into t and v1, recompute HMAC-SHA256 over `${t}.${raw body}`, compare in constant time,
 * and refuse a timestamp outside the replay window.
 */
function verify(delivery: Delivery, secret: string, nowSeconds = Date.now() / 1000): boolean {
  const header = String(delivery.headers['x-commstrat-signature'] ?? '');
  const parts = Object.fromEntries(
    header.split(',').map((part) => part.split('=', 2) as [string, string]),
  );
  const timestamp = Number(parts['t']);
  const given = Buffer.from(parts['v1'] ?? '', 'hex');
  const expected = createHmac('sha256', secret).update(`${parts['t']}.${delivery.body}`).digest();
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > REPLAY_WINDOW_SECONDS)
    return false;
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A tenant's endpoint that answers each delivery with the next of `statuses` (then 200). */
async function receiver(statuses: number[] = [], options: { hang?: boolean } = {}) {
  const deliveries: Delivery[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body });
      if (options.hang === true) return;
      res
        .writeHead(statuses.shift() ?? 200, { 'content-type': 'application/json' })
        .end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  test.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/commstrat?src=test`,
    deliveries,
  };
}

const webhookProvider = (url: string): ProviderInput => ({
  id: 'tenant-hook',
  kind: 'webhook',
  endpoint: url,
  credentials: { secret: SECRET },
  ratePerSecond: 100,
  concurrency: 2,
  maxBatchSize: 1,
  lingerMs: 0,
  timeoutMs: 2000,
});

async function deploymentWithWebhook(url: string) {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  await upsertProvider(deployment.sql, deployment.tenantId, webhookProvider(url));
  await saveStrategy(
    deployment.sql,
    deployment.tenantId,
    {
      name: 'webhook-default',
      channel: 'webhook',
      steps: [
        {
          route: { mode: 'failover', providers: ['tenant-hook'] },
          ttl_seconds: 3600,
          retry: { max_attempts: 4, base_delay_ms: 50, max_delay_ms: 200 },
        },
      ],
    },
    { defaultForChannel: true },
  );
  return deployment;
}

const webhookMessage = {
  channel: 'webhook',
  recipient: { chat_id: 'order-42' },
  content: { text: 'order shipped', variables: { order: 42 } },
};

test('a webhook message is POSTed to the tenant URL, signed over timestamp.body, and journaled sent', async () => {
  const hook = await receiver();
  const deployment = await deploymentWithWebhook(hook.url);
  const { status, body } = await deployment.api('POST', '/v1/messages', webhookMessage);
  assert.equal(status, 202, JSON.stringify(body));
  const delivery = await eventually('the webhook delivery', () =>
    Promise.resolve(hook.deliveries[0]),
  );
  assert.equal(delivery.headers['content-type'], 'application/json');
  assert.equal(delivery.headers['x-commstrat-message-id'], body.id);
  assert.ok(
    verify(delivery, SECRET),
    `signature ${String(delivery.headers['x-commstrat-signature'])} does not verify`,
  );
  assert.equal(verify(delivery, 'another-secret-of-16+'), false, 'another secret does not verify');
  // Standard Webhooks, verified by the specification's library: the message id is the webhook-id.
  assert.equal(delivery.headers['webhook-id'], body.id);
  assert.equal((new Webhook(SECRET).verify(delivery.body, delivery.headers as Record<string, string>) as { id: string }).id, body.id);
  assert.throws(() => new Webhook(SECRET).verify(delivery.body.replace('shipped', 'lost'), delivery.headers as Record<string, string>), /No matching signature/);
  assert.equal(
    verify({ ...delivery, body: delivery.body.replace('shipped', 'lost') }, SECRET),
    false,
    'a changed body does not',
  );
  assert.equal(
    verify(delivery, SECRET, Date.now() / 1000 + REPLAY_WINDOW_SECONDS + 5),
    false,
    'nor an old one replayed',
  );
  const payload = JSON.parse(delivery.body);
  assert.equal(payload.id, body.id);
  assert.deepEqual(payload.content, webhookMessage.content);
  assert.deepEqual(payload.recipient, webhookMessage.recipient);

  await eventually('the message journaled sent', async () => {
    const view = await deployment.api('GET', `/v1/messages/${body.id}`);
    return view.body.status === 'sent' ? view.body : undefined;
  });
});

test('a 5xx answer is retried with back-off until the endpoint takes it; each attempt is signed afresh', async () => {
  const hook = await receiver([503, 500]);
  const deployment = await deploymentWithWebhook(hook.url);
  const { body } = await deployment.api('POST', '/v1/messages', webhookMessage);
  const view = await eventually('the message sent after two failures', async () => {
    const { body: current } = await deployment.api('GET', `/v1/messages/${body.id}`);
    return current.status === 'sent' ? current : undefined;
  });
  assert.equal(hook.deliveries.length, 3);
  assert.ok(
    hook.deliveries.every(
      (d) => verify(d, SECRET) && d.headers['x-commstrat-message-id'] === body.id,
    ),
  );
  assert.deepEqual(
    hook.deliveries.map((d) => JSON.parse(d.body).attempt),
    [1, 2, 3],
  );
  const scheduled = view.timeline.filter((e: { status: string }) => e.status === 'scheduled');
  assert.equal(scheduled.length, 2, 'two back-offs on the timeline');
});

test('a 4xx answer fails the message for good, without a retry', async () => {
  const hook = await receiver([410]);
  const deployment = await deploymentWithWebhook(hook.url);
  const { body } = await deployment.api('POST', '/v1/messages', webhookMessage);
  const view = await eventually('the message failed', async () => {
    const { body: current } = await deployment.api('GET', `/v1/messages/${body.id}`);
    return current.status === 'failed' ? current : undefined;
  });
  assert.match(view.timeline.at(-1).reason, /http_410/);
  await holdFor(400, 'a 410 must not be retried meanwhile');
  assert.equal(hook.deliveries.length, 1);
});

test('an endpoint that does not answer in time is a retryable failure', async () => {
  const hook = await receiver([], { hang: true });
  const adapter = new WebhookAdapter({
    id: 'acme/hook',
    url: hook.url,
    egress: allowing(hook.url),
    secret: SECRET,
    timeoutMs: 300,
  });
  test.after(() => adapter.close());
  const message = {
    id: newId(),
    tenant_id: 'acme',
    channel: 'webhook' as const,
    strategy: undefined,
    priority: 'normal' as const,
    recipient: { chat_id: 'x' },
    content: { text: 'x' },
    expires_at: undefined,
  };
  const result = await adapter.send([message]);
  assert.ok(result.error instanceof ProviderUnavailableError, String(result.error));
  assert.match(result.error.message, /did not answer in time/);
});

test('a webhook provider row needs an http(s) URL, a secret of 16+ characters and batches of one', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  await assert.rejects(
    upsertProvider(deployment.sql, deployment.tenantId, {
      ...webhookProvider('ftp://example.test/hook'),
      credentials: { secret: 'short' },
      maxBatchSize: 10,
    }),
    (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.deepEqual(
        error.problems.map((p) => p.path),
        ['/endpoint', '/credentials/secret', '/maxBatchSize'],
      );
      return true;
    },
  );
});
