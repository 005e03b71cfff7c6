import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Express, type Request, type Response } from 'express';
import { isValidE164, signReceiptBody } from '@commstrat/core';
import {
  MONITORING_ROUTES,
  jsonErrorHandler,
  methodGuard,
  monitoringRouter,
  notFound,
  processInfo,
  type ProcessInfo,
  type Registry,
  type RouteTable,
} from '@commstrat/observability';
import { DEFAULT_BEHAVIOUR, SecondWindowLimiter, type SandboxBehaviour } from './behaviour.ts';
import { ReceiptSender } from './receipt-sender.ts';
import { infobipRoutes } from './infobip-mode.ts';
import { smscruRoutes } from './smscru-mode.ts';
import { telegramRoutes } from './telegram-mode.ts';
import { fcmRoutes } from './fcm-mode.ts';
import { SINCH_ROUTES, sinchRoutes } from './sinch-mode.ts';
import { TWILIO_ROUTES, postTwilioInbound, twilioRoutes } from './twilio-mode.ts';
import { ReceivedStore, type ReceivedSms } from './received-store.ts';

export interface SandboxOptions {
  /** Bearer token clients must send. */
  readonly token: string;
  readonly registry: Registry;
  /** Most received messages kept for inspection. Default 1 000 000. */
  readonly keep?: number;
  readonly behaviour?: Partial<SandboxBehaviour>;
  /** What `/info` answers. Default: this package's version, no settings. */
  readonly info?: ProcessInfo;
}

/** The sandbox's paths and methods, for 405 answers. */
const SANDBOX_ROUTES: RouteTable = {
  ...MONITORING_ROUTES,
  '/v1/sms/send': ['POST'],
  '/v1/sms/batch': ['POST'],
  '/sms/2/text/advanced': ['POST'],
  '/sys/send.php': ['POST'],
  '/token': ['POST'],
  ...TWILIO_ROUTES,
  ...SINCH_ROUTES,
  '/_sandbox/received': ['GET', 'DELETE'],
  '/_sandbox/behaviour': ['GET', 'PUT'],
  '/_sandbox/receipts': ['GET', 'PUT'],
  '/_sandbox/inbound': ['POST'],
};

interface SmsItem {
  client_ref?: unknown;
  to?: unknown;
  text?: unknown;
  sender?: unknown;
}

type ItemResult =
  | { client_ref: string | undefined; status: 'accepted'; message_id: string }
  | { client_ref: string | undefined; status: 'rejected'; error: { code: string; message: string } };

/**
 * A batch SMS aggregator API as real ones behave: bearer auth, per-item results,
 * invalid numbers rejected per item, a per-second account rate answered with 429 and
 * Retry-After, configurable latency and 503s. Keeps what it accepted for inspection.
 */
export function createSandboxApp(options: SandboxOptions): { app: Express; received: ReceivedStore; receipts: ReceiptSender } {
  const behaviour: SandboxBehaviour = { ...DEFAULT_BEHAVIOUR, ...options.behaviour };
  const received = new ReceivedStore(options.keep ?? 1_000_000);
  const receipts = new ReceiptSender();
  const limiter = new SecondWindowLimiter();
  let requestSeq = 0;
  const app = express();
  app.disable('x-powered-by');
  const info = options.info ?? sandboxInfo({});
  app.use(monitoringRouter({ registry: options.registry, checks: {}, info }));
  app.use(methodGuard(SANDBOX_ROUTES));
  app.use(express.json({ limit: '20mb' }));

  const authorized = (req: Request, res: Response): boolean => {
    if (req.get('authorization') === `Bearer ${options.token}`) return true;
    res.status(401).json({ error: { code: 'unauthorized', message: 'bad or missing token' } });
    return false;
  };

  /** Common gate for both send endpoints: auth, injected latency and faults, rate. */
  const admit = async (req: Request, res: Response, count: number): Promise<boolean> => {
    if (!authorized(req, res)) return false;
    if (behaviour.latency_ms > 0) await sleep(behaviour.latency_ms);
    // A client that gave up during the latency (its timeout) is gone: the request is
    // dropped unprocessed, as a gateway whose upstream timed out does. Accepting it
    // anyway would make every client timeout a duplicate at the provider.
    if (res.destroyed || req.socket.destroyed) return false;
    if (behaviour.error_rate > 0 && Math.random() < behaviour.error_rate) {
      res.status(503).json({ error: { code: 'unavailable', message: 'temporarily unavailable' } });
      return false;
    }
    if (behaviour.malformed_rate > 0 && Math.random() < behaviour.malformed_rate) {
      res.status(200).type('application/json').send('{"results": [<html>bad gateway</html>');
      return false;
    }
    const waitSeconds = limiter.take(count, behaviour.rate_per_second);
    if (waitSeconds > 0) {
      res.set('retry-after', String(waitSeconds));
      res.status(429).json({ error: { code: 'rate_limited', message: 'account rate exceeded' } });
      return false;
    }
    return true;
  };

  const accept = (items: readonly SmsItem[]): ItemResult[] => {
    const now = Date.now();
    const seq = ++requestSeq;
    const stored: ReceivedSms[] = [];
    const results = items.map((item): ItemResult => {
      const clientRef = typeof item.client_ref === 'string' ? item.client_ref : undefined;
      if (typeof item.to !== 'string' || !isValidE164(item.to)) {
        return { client_ref: clientRef, status: 'rejected', error: { code: 'invalid_number', message: 'to is not a valid E.164 number' } };
      }
      if (typeof item.text !== 'string' || item.text.length === 0) {
        return { client_ref: clientRef, status: 'rejected', error: { code: 'empty_text', message: 'text is empty' } };
      }
      const messageId = `sbx_${randomUUID()}`;
      stored.push({
        message_id: messageId,
        client_ref: clientRef,
        to: item.to,
        text: item.text,
        sender: typeof item.sender === 'string' ? item.sender : undefined,
        received_at: now,
        request_seq: seq,
      });
      return { client_ref: clientRef, status: 'accepted', message_id: messageId };
    });
    received.add(stored);
    receipts.report(stored.map((sms) => sms.message_id));
    return results;
  };

  app.post('/v1/sms/send', async (req, res) => {
    const body = req.body as SmsItem | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      res.status(400).json({ error: { code: 'bad_request', message: 'body must be a JSON object' } });
      return;
    }
    if (!(await admit(req, res, 1))) return;
    const [result] = accept([body]);
    if (result?.status === 'accepted') res.json(result);
    else res.status(400).json(result);
  });

  app.post('/v1/sms/batch', async (req, res) => {
    const messages = (req.body as { messages?: unknown } | undefined)?.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      res.status(400).json({ error: { code: 'bad_request', message: 'messages must be a non-empty array' } });
      return;
    }
    if (messages.length > behaviour.max_batch_size) {
      res.status(413).json({ error: { code: 'batch_too_large', message: `at most ${behaviour.max_batch_size} messages` } });
      return;
    }
    if (!(await admit(req, res, messages.length))) return;
    const body = JSON.stringify({ results: accept(messages as SmsItem[]) });
    if (behaviour.drip_ms > 0) await drip(res, body, behaviour.drip_ms);
    else res.type('application/json').send(body);
  });

  // Real API shapes, for the provider definitions that follow them (the sandbox's own
  // token doubles as their API key).
  app.use(infobipRoutes({ apiKey: options.token, behaviour, limiter, received, receipts, nextRequestSeq: () => ++requestSeq }));
  app.use(smscruRoutes({ login: 'commstrat', password: options.token, behaviour, limiter, received, receipts, nextRequestSeq: () => ++requestSeq }));
  app.use(telegramRoutes({ botToken: options.token, behaviour, limiter, received, nextRequestSeq: () => ++requestSeq }));
  app.use(fcmRoutes({ behaviour, limiter, received, nextRequestSeq: () => ++requestSeq }));
  app.use(twilioRoutes({ authToken: options.token, behaviour, limiter, received, receipts, nextRequestSeq: () => ++requestSeq }));
  app.use(sinchRoutes({ apiToken: options.token, behaviour, limiter, received, receipts, nextRequestSeq: () => ++requestSeq }));

  app.get('/_sandbox/received', (req, res) => {
    const clientRef = typeof req.query['client_ref'] === 'string' ? req.query['client_ref'] : undefined;
    const to = typeof req.query['to'] === 'string' ? req.query['to'] : undefined;
    const offset = typeof req.query['offset'] === 'string' ? Number(req.query['offset']) : undefined;
    if (offset !== undefined) {
      // Paging from the oldest kept message: how the ledger reads everything received.
      const limit = typeof req.query['limit'] === 'string' ? Number(req.query['limit']) : 1000;
      if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        res.status(422).json({ error: { code: 'validation_failed', message: 'offset must be a whole number >= 0, limit 1..10000' } });
        return;
      }
      res.json({ count: received.size, messages: received.slice(offset, limit) });
      return;
    }
    if (clientRef === undefined && to === undefined) {
      res.json({ count: received.size, messages: received.latest(1000) });
      return;
    }
    const messages = received.list({ clientRef, to });
    res.json({ count: messages.length, messages: messages.slice(-1000) });
  });

  app.delete('/_sandbox/received', (_req, res) => {
    received.clear();
    res.status(204).end();
  });

  app.get('/_sandbox/behaviour', (_req, res) => {
    res.json(behaviour);
  });

  app.put('/_sandbox/behaviour', (req, res) => {
    const update = (req.body ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(update)) {
      if (!(key in DEFAULT_BEHAVIOUR) || typeof value !== 'number' || value < 0) {
        res.status(422).json({ error: { code: 'validation_failed', message: `/${key}: unknown or negative` } });
        return;
      }
    }
    Object.assign(behaviour, update);
    res.json(behaviour);
  });

  // Delivery receipts: where to send them, signed with which secret, saying what, when.
  app.get('/_sandbox/receipts', (_req, res) => {
    res.json({ settings: receipts.current() ?? null, sent: receipts.sent, failed: receipts.failed });
  });

  app.put('/_sandbox/receipts', (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { url, secret, status, delay_ms: delayMs = 0, error, basic, late_share: lateShare = 0, late_delay_ms: lateDelayMs = 0 } = body;
    const basicLogin = basic as { username?: unknown; password?: unknown } | undefined;
    if (typeof url !== 'string' || !URL.canParse(url) || typeof secret !== 'string' || secret === '' ||
      (status !== 'delivered' && status !== 'undelivered' && status !== 'none') ||
      typeof delayMs !== 'number' || delayMs < 0 || (error !== undefined && typeof error !== 'string') ||
      typeof lateShare !== 'number' || lateShare < 0 || lateShare > 1 || typeof lateDelayMs !== 'number' || lateDelayMs < 0 ||
      (basicLogin !== undefined && (typeof basicLogin.username !== 'string' || typeof basicLogin.password !== 'string'))) {
      res.status(422).json({
        error: { code: 'validation_failed', message: 'need url, secret, status (delivered|undelivered|none), optional delay_ms >= 0, error, basic {username, password}, late_share 0..1 and late_delay_ms >= 0' },
      });
      return;
    }
    receipts.configure({
      url, secret, status, delay_ms: delayMs, ...(error === undefined ? {} : { error }),
      ...(lateShare === 0 ? {} : { late_share: lateShare, late_delay_ms: lateDelayMs }),
      ...(basicLogin === undefined ? {} : { basic: { username: String(basicLogin.username), password: String(basicLogin.password) } }),
    });
    res.json(receipts.current());
  });

  // A recipient writing back: the sandbox posts an inbound message to a webhook, as Twilio
  // does (`format: twilio`, signed with the sandbox token as the auth token) or in the
  // generic signed format (`format: generic`, signed with `secret`). Answers what the
  // webhook answered.
  app.post('/_sandbox/inbound', async (req, res) => {
    const { url, format = 'twilio', from, to = '+15017122661', text, secret, message_id: messageId, account_sid: accountSid = 'AC00000000000000000000000000000000' } =
      (req.body ?? {}) as Record<string, unknown>;
    const strings = [from, to, text, accountSid].every((value) => typeof value === 'string') && (messageId === undefined || typeof messageId === 'string');
    if (typeof url !== 'string' || !URL.canParse(url) || !strings || (format !== 'twilio' && format !== 'generic') || (format === 'generic' && typeof secret !== 'string')) {
      res.status(422).json({
        error: { code: 'validation_failed', message: 'need url, from, text; optional to, message_id, account_sid; format twilio (default) or generic with secret' },
      });
      return;
    }
    if (format === 'twilio') {
      const answer = await postTwilioInbound(options.token, url, {
        from: from as string,
        to: to as string,
        body: text as string,
        accountSid: accountSid as string,
        ...(messageId === undefined ? {} : { messageSid: messageId }),
      });
      res.json({ status: answer.status, content_type: answer.contentType, body: answer.body, message_id: answer.messageSid });
      return;
    }
    const id = typeof messageId === 'string' ? messageId : `sbx_in_${randomUUID()}`;
    const body = JSON.stringify({ messages: [{ from, to, text, provider_message_id: id, at: new Date().toISOString() }] });
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-commstrat-signature': signReceiptBody(secret as string, body, new Date()) },
      body,
    });
    res.json({ status: response.status, content_type: response.headers.get('content-type') ?? '', body: await response.text(), message_id: id });
  });

  app.use(notFound);
  app.use(jsonErrorHandler());
  return { app, received, receipts };
}

/** The sandbox's `/info`, hashing the settings it runs with. */
export function sandboxInfo(settings: object): ProcessInfo {
  return processInfo({ service: 'sandbox', packageJson: new URL('../package.json', import.meta.url), settings });
}

/** Writes `body` 16 bytes at a time, `pauseMs` apart: a slow or congested provider link. */
async function drip(res: Response, body: string, pauseMs: number): Promise<void> {
  res.status(200).type('application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  const bytes = Buffer.from(body);
  for (let at = 0; at < bytes.length && !res.destroyed; at += 16) {
    res.write(bytes.subarray(at, at + 16));
    await sleep(pauseMs);
  }
  res.end();
}
