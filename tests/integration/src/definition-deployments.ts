// A deployment whose tenant sends through one provider of a shipped definition (against
// the sandbox's mode of that API), for the Twilio and Sinch definition tests.
import assert from 'node:assert/strict';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { eventually } from './harness.ts';
import { setSandboxBehaviour, startDeployment, type Deployment } from './services.ts';

export const RECEIPT_SECRET = 'definition-receipt-secret';

export interface DefinitionDeployment {
  readonly deployment: Deployment;
  /** The provider's receipt endpoint on ingest. */
  readonly receiptUrl: string;
  /** Sends one SMS through the provider's strategy; answers the message id. */
  readonly send: (text: string, phone?: string) => Promise<string>;
  /** Sends several in one API request; answers their ids. */
  readonly sendBatch: (texts: readonly string[]) => Promise<string[]>;
  /** Waits until the message is in `status`; answers its view. */
  readonly until: (id: string, status: string, timeoutMs?: number) => Promise<any>;
}

/**
 * Starts a deployment, adds provider `id` of `kind` (one message per request) and a
 * strategy `<id>-sms` over it with short retries, and tells the sandbox how to report.
 */
export async function definitionDeployment(options: {
  kind: string;
  id: string;
  credentials: (receiptUrl: string, sandbox: Deployment['sandbox']) => Record<string, string>;
  receipts?: { status: 'delivered' | 'undelivered' | 'none'; error?: string; basic?: { username: string; password: string } };
}): Promise<DefinitionDeployment> {
  const deployment = await startDeployment();
  const receiptUrl = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/${options.id}/receipts`;
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: options.id,
    kind: options.kind,
    endpoint: deployment.sandbox.url,
    credentials: options.credentials(receiptUrl, deployment.sandbox),
    ratePerSecond: 100,
    concurrency: 4,
    maxBatchSize: 1,
    lingerMs: 10,
    timeoutMs: 5000,
  });
  const strategy = `${options.id}-sms`;
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: strategy,
    channel: 'sms',
    // Retries come fast unless the provider asks for longer (Retry-After).
    steps: [{ route: { mode: 'failover', providers: [options.id] }, ttl_seconds: 600, retry: { max_attempts: 6, base_delay_ms: 50, max_delay_ms: 200 } }],
  });
  const answer = await fetch(`${deployment.sandbox.url}/_sandbox/receipts`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: receiptUrl, secret: RECEIPT_SECRET, delay_ms: 50, ...(options.receipts ?? { status: 'none' }) }),
  });
  assert.equal(answer.status, 200, await answer.text());
  const message = (text: string, phone = '+4915112345678') => ({ strategy, recipient: { phone }, content: { text } });
  return {
    deployment,
    receiptUrl,
    send: async (text, phone) => {
      const { status, body } = await deployment.api('POST', '/v1/messages', message(text, phone));
      assert.equal(status, 202, JSON.stringify(body));
      return body.id as string;
    },
    sendBatch: async (texts) => {
      const { status, body } = await deployment.api('POST', '/v1/messages/batch', {
        messages: texts.map((text, i) => message(text, `+4915112345${String(670 + i)}`)),
      });
      assert.equal(status, 202, JSON.stringify(body));
      return (body.accepted as { id: string }[]).map((item) => item.id);
    },
    until: async (id, status, timeoutMs = 15_000) =>
      eventually(
        `message ${id} to be ${status}`,
        async () => {
          const { body } = await deployment.api('GET', `/v1/messages/${id}`);
          return body.status === status ? body : undefined;
        },
        timeoutMs,
      ),
  };
}

/** The provider exchanges of a message, oldest first. */
export async function exchangesOf(deployment: Deployment, messageId: string) {
  const exchanges = await deployment.journal.findProviderExchanges(messageId);
  return exchanges.sort((a, b) => a.started_at.getTime() - b.started_at.getTime());
}

/**
 * Sends three messages at once to a sandbox mode that allows one a second, waits for all
 * to be sent, and checks that every retry after a 429 came no sooner than its
 * Retry-After of one second (the strategy's own back-off is at most 200 ms). Returns the
 * 429 answers' bodies, for the caller to check the API's own error shape.
 */
export async function retriesWaitForRetryAfter(definition: DefinitionDeployment): Promise<string[]> {
  const { deployment, sendBatch, until } = definition;
  await setSandboxBehaviour(deployment.sandbox, { rate_per_second: 1 });
  const ids = await sendBatch(['a', 'b', 'c']);
  await Promise.all(ids.map((id) => until(id, 'sent', 30_000)));
  const limited: string[] = [];
  for (const id of ids) {
    const exchanges = await exchangesOf(deployment, id);
    exchanges.forEach((exchange, i) => {
      const next = exchanges[i + 1];
      if (exchange.http_status !== 429 || next === undefined) return;
      limited.push(exchange.response);
      assert.ok(next.started_at.getTime() - exchange.started_at.getTime() >= 950, 'retried no sooner than Retry-After');
    });
  }
  // Three requests within a second span at most two of the sandbox's one-second windows.
  assert.ok(limited.length >= 1, `expected a 429, saw ${limited.length}`);
  return limited;
}
