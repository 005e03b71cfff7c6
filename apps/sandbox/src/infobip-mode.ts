import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response, type Router } from 'express';
import { isValidE164, signReceiptBody } from '@commstrat/core';
import type { SandboxBehaviour, SecondWindowLimiter } from './behaviour.ts';
import type { ReceiptSender, ReceiptSettings } from './receipt-sender.ts';
import type { ReceivedSms, ReceivedStore } from './received-store.ts';

export interface InfobipModeDeps {
  /** The API key clients must send as `Authorization: App <key>`. */
  readonly apiKey: string;
  readonly behaviour: SandboxBehaviour;
  readonly limiter: SecondWindowLimiter;
  readonly received: ReceivedStore;
  /**
   * When and with what status delivery reports are sent (PUT /_sandbox/receipts): to each
   * message's notifyUrl (else the settings' url), signed X-Commstrat-Signature with the
   * settings' secret, since Infobip itself does not sign them.
   */
  readonly receipts: ReceiptSender;
  /** Numbers each request for the received store. */
  readonly nextRequestSeq: () => number;
}

interface Destination {
  to?: unknown;
  messageId?: unknown;
}
interface InfobipMessage {
  from?: unknown;
  destinations?: unknown;
  text?: unknown;
  notifyUrl?: unknown;
}

const PENDING = {
  groupId: 1,
  groupName: 'PENDING',
  id: 26,
  name: 'PENDING_ACCEPTED',
  description: 'Message sent to next instance',
};
const REJECTED_DESTINATION = {
  groupId: 5,
  groupName: 'REJECTED',
  id: 14,
  name: 'REJECTED_DESTINATION',
  description: 'Invalid destination address',
};

/** Infobip's error envelope: `{"requestError":{"serviceException":{"messageId","text"}}}`. */
function requestError(res: Response, status: number, messageId: string, text: string): void {
  res.status(status).json({ requestError: { serviceException: { messageId, text } } });
}

/**
 * Infobip SMS API v2 `POST /sms/2/text/advanced`, as its documentation shows it: API key
 * auth (`Authorization: App <key>`), many messages per request each with its own
 * destinations, a `bulkId` and one result per destination with Infobip's status
 * object, errors in Infobip's `requestError` envelope. The behaviour knobs of the sandbox
 * (latency, 503 share, account rate with 429) apply here too. Accepted destinations are
 * reported as Infobip's delivery reports do it ("Receive outbound SMS message report"):
 * `{"results": [...]}`, one POST per message's notifyUrl with its destinations' reports.
 */
export function infobipRoutes(deps: InfobipModeDeps): Router {
  const router = express.Router();
  router.post('/sms/2/text/advanced', async (req: Request, res: Response) => {
    if (req.get('authorization') !== `App ${deps.apiKey}`) {
      requestError(res, 401, 'UNAUTHORIZED', 'Invalid login details');
      return;
    }
    const messages = (req.body as { messages?: unknown } | undefined)?.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      requestError(res, 400, 'BAD_REQUEST', 'messages must be a non-empty array');
      return;
    }
    const items = messages as InfobipMessage[];
    const destinations = items.flatMap((message) =>
      Array.isArray(message.destinations) ? (message.destinations as Destination[]) : [],
    );
    if (
      destinations.length === 0 ||
      items.some(
        (message) => typeof message.text !== 'string' || !Array.isArray(message.destinations),
      )
    ) {
      requestError(res, 400, 'BAD_REQUEST', 'every message needs destinations and text');
      return;
    }
    if (destinations.length > deps.behaviour.max_batch_size) {
      requestError(
        res,
        400,
        'BAD_REQUEST',
        `at most ${deps.behaviour.max_batch_size} destinations per request`,
      );
      return;
    }
    if (deps.behaviour.latency_ms > 0) await sleep(deps.behaviour.latency_ms);
    if (deps.behaviour.error_rate > 0 && Math.random() < deps.behaviour.error_rate) {
      requestError(res, 500, 'GENERAL_ERROR', 'Something went wrong. Please contact support.');
      return;
    }
    const waitSeconds = deps.limiter.take(destinations.length, deps.behaviour.rate_per_second);
    if (waitSeconds > 0) {
      res.set('retry-after', String(waitSeconds));
      requestError(res, 429, 'TOO_MANY_REQUESTS', 'Too many requests');
      return;
    }
    const seq = deps.nextRequestSeq();
    const now = Date.now();
    const stored: ReceivedSms[] = [];
    const reports: { notifyUrl: string | undefined; to: string; messageId: string }[] = [];
    const results = items.flatMap((message) =>
      (message.destinations as Destination[]).map((destination) => {
        const to = typeof destination.to === 'string' ? destination.to : '';
        const messageId =
          typeof destination.messageId === 'string' ? destination.messageId : randomUUID();
        if (!/^\d+$/.test(to) || !isValidE164(`+${to}`))
          return { to, status: REJECTED_DESTINATION, messageId };
        stored.push({
          message_id: messageId,
          client_ref: messageId,
          to: `+${to}`,
          text: String(message.text),
          sender: typeof message.from === 'string' ? message.from : undefined,
          received_at: now,
          request_seq: seq,
        });
        reports.push({ notifyUrl: typeof message.notifyUrl === 'string' && message.notifyUrl !== '' ? message.notifyUrl : undefined, to, messageId });
        return { to, status: PENDING, messageId };
      }),
    );
    deps.received.add(stored);
    const bulkId = `sbx-bulk-${randomUUID()}`;
    if (reports.length > 0) deps.receipts.later(reports.length, (settings) => sendDeliveryReports(bulkId, reports, settings));
    res.json({ bulkId, messages: results });
  });
  return router;
}

const DELIVERED = { groupId: 3, groupName: 'DELIVERED', id: 5, name: 'DELIVERED_TO_HANDSET', description: 'Message delivered to handset' };
const UNDELIVERABLE = {
  groupId: 2,
  groupName: 'UNDELIVERABLE',
  id: 9,
  name: 'UNDELIVERABLE_NOT_DELIVERED',
  description: 'Message sent not delivered',
};
const NO_ERROR = { groupId: 0, groupName: 'OK', id: 0, name: 'NO_ERROR', description: 'No Error', permanent: false };

/**
 * Posts the final delivery report of every accepted destination, grouped by notifyUrl
 * (at most 100 a request, as Infobip), in Infobip's `{"results": [...]}` body.
 */
async function sendDeliveryReports(
  bulkId: string,
  reports: readonly { notifyUrl: string | undefined; to: string; messageId: string }[],
  settings: ReceiptSettings,
): Promise<boolean> {
  const delivered = settings.status === 'delivered';
  const error = delivered
    ? NO_ERROR
    : { groupId: 1, groupName: 'HANDSET_ERRORS', id: 27, name: settings.error ?? 'EC_ABSENT_SUBSCRIBER', description: 'Absent Subscriber', permanent: false };
  const byUrl = new Map<string, typeof reports[number][]>();
  for (const report of reports) {
    const url = report.notifyUrl ?? settings.url;
    byUrl.set(url, [...(byUrl.get(url) ?? []), report]);
  }
  let ok = true;
  for (const [url, group] of byUrl) {
    for (let start = 0; start < group.length; start += 100) {
      const doneAt = new Date().toISOString().replace('Z', '+0000');
      const body = JSON.stringify({
        results: group.slice(start, start + 100).map((report) => ({
          bulkId,
          price: { pricePerMessage: 0.01, currency: 'EUR' },
          status: delivered ? DELIVERED : UNDELIVERABLE,
          error,
          messageId: report.messageId,
          doneAt,
          smsCount: 1,
          sentAt: doneAt,
          to: report.to,
        })),
      });
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-commstrat-signature': signReceiptBody(settings.secret, body, new Date()) },
        body,
      });
      await response.arrayBuffer();
      ok &&= response.ok;
    }
  }
  return ok;
}
