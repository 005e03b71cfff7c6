import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response, type Router } from 'express';
import { isValidE164 } from '@commstrat/core';
import type { SandboxBehaviour, SecondWindowLimiter } from './behaviour.ts';
import type { ReceivedSms, ReceivedStore } from './received-store.ts';

export interface InfobipModeDeps {
  /** The API key clients must send as `Authorization: App <key>`. */
  readonly apiKey: string;
  readonly behaviour: SandboxBehaviour;
  readonly limiter: SecondWindowLimiter;
  readonly received: ReceivedStore;
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
 * (latency, 503 share, account rate with 429) apply here too.
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
        return { to, status: PENDING, messageId };
      }),
    );
    deps.received.add(stored);
    res.json({ bulkId: `sbx-bulk-${randomUUID()}`, messages: results });
  });
  return router;
}
