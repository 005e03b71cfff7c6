// The one way tests build and send API requests: the message bodies they post, posting
// them through a deployment's API, and waiting for a message to reach a status. A test
// that needs something else spreads its fields over these (`sms('hi', { priority })`).
import assert from 'node:assert/strict';
import { eventually } from './harness.ts';
import type { Deployment } from './services.ts';

/** The phone number tests send to (valid, Russian mobile). */
export const TEST_PHONE = '+79161234567';

/** A `POST /v1/messages` body: an SMS with `text` to TEST_PHONE, `extra` laid over it. */
export function sms(text = 'hello', extra: object = {}): Record<string, unknown> {
  return { channel: 'sms', recipient: { phone: TEST_PHONE }, content: { text }, ...extra };
}

/** Posts one message as the deployment's tenant; fails the test unless it is accepted (202). Its id. */
export async function postMessage(deployment: Pick<Deployment, 'api'>, body: object): Promise<string> {
  const { status, body: answer } = await deployment.api('POST', '/v1/messages', body);
  assert.equal(status, 202, JSON.stringify(answer));
  return answer.id as string;
}

/** Posts a batch; fails the test unless every item is accepted (202). The ids, in order. */
export async function postBatch(deployment: Pick<Deployment, 'api'>, messages: readonly object[], extra: object = {}): Promise<string[]> {
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages, ...extra });
  assert.equal(status, 202, JSON.stringify(body));
  return (body.accepted as { id: string }[]).map((item) => item.id);
}

/** A message as `GET /v1/messages/{id}` shows it. */
export interface MessageView {
  readonly status: string;
  readonly timeline: { status: string; reason?: string; provider?: string; step?: number; at?: string }[];
  readonly [field: string]: unknown;
}

export async function messageOf(deployment: Pick<Deployment, 'api'>, id: string): Promise<MessageView> {
  return (await deployment.api('GET', `/v1/messages/${id}`)).body as MessageView;
}

/** Waits until the message has `status` (polling its GET), and returns it. */
export function untilStatus(deployment: Pick<Deployment, 'api'>, id: string, status: string, timeoutMs = 15_000): Promise<MessageView> {
  return eventually(`message ${id} to be ${status}`, async () => {
    const message = await messageOf(deployment, id);
    return message.status === status ? message : undefined;
  }, timeoutMs);
}
