import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response, type Router } from 'express';
import { isValidE164 } from '@commstrat/core';
import type { RouteTable } from '@commstrat/observability';
import type { SandboxBehaviour, SecondWindowLimiter } from './behaviour.ts';
import type { ReceiptSender, ReceiptSettings } from './receipt-sender.ts';
import type { ReceivedStore } from './received-store.ts';

export interface TwilioModeDeps {
  /** The auth token clients must send as the basic-auth password (any AccountSid user). */
  readonly authToken: string;
  readonly behaviour: SandboxBehaviour;
  readonly limiter: SecondWindowLimiter;
  readonly received: ReceivedStore;
  /** When and with what status callbacks are sent (PUT /_sandbox/receipts; its url and secret are not used). */
  readonly receipts: ReceiptSender;
  readonly nextRequestSeq: () => number;
}

export const TWILIO_ROUTES: RouteTable = { '/2010-04-01/Accounts/{sid}/Messages.json': ['POST'] };

/** Twilio's test-credentials number that is refused as "not a valid phone number" (21211). */
export const TWILIO_INVALID_NUMBER = '+15005550001';

/** Twilio's error body: `{code, message, more_info, status}`. */
function twilioError(res: Response, status: number, code: number, message: string): void {
  res.status(status).json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

/** The account and token of an HTTP basic `Authorization` header. */
function basicAuth(req: Request): { user: string; password: string } | undefined {
  const match = /^Basic (.+)$/i.exec(req.get('authorization') ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Twilio Programmable Messaging `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` as
 * its documentation shows it: basic auth AccountSid:AuthToken (the user must be the
 * path's AccountSid), form-encoded To/From/Body/StatusCallback, one message per request,
 * 201 with the Message resource, errors in Twilio's `{code, message, more_info, status}`
 * body (20003 auth, 21211 invalid To, 21602/21603/21604 missing Body/From/To, 20429 rate,
 * 20500 internal). Status callbacks go to each message's StatusCallback, form-encoded and
 * signed with X-Twilio-Signature: an intermediate `sent`, then the final status.
 */
export function twilioRoutes(deps: TwilioModeDeps): Router {
  const router = express.Router();
  router.post('/2010-04-01/Accounts/:sid/Messages.json', express.urlencoded({ extended: false, limit: '1mb' }), async (req: Request, res: Response) => {
    const accountSid = req.params['sid'] ?? '';
    const login = basicAuth(req);
    if (login === undefined || login.user !== accountSid || login.password !== deps.authToken) {
      twilioError(res, 401, 20003, 'Authenticate');
      return;
    }
    const fields = (req.body ?? {}) as Record<string, unknown>;
    const field = (name: string) => (typeof fields[name] === 'string' ? fields[name] : undefined);
    const to = field('To');
    const from = field('From');
    const body = field('Body');
    const statusCallback = field('StatusCallback');
    if (to === undefined || to === '') return twilioError(res, 400, 21604, "A 'To' phone number is required.");
    if (from === undefined || from === '') return twilioError(res, 400, 21603, "A 'From' phone number is required.");
    if (body === undefined || body === '') return twilioError(res, 400, 21602, 'Message body is required.');
    if (!isValidE164(to) || to === TWILIO_INVALID_NUMBER)
      return twilioError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (statusCallback !== undefined && !URL.canParse(statusCallback))
      return twilioError(res, 400, 21609, 'The StatusCallback URL is not a valid URL.');
    if (deps.behaviour.latency_ms > 0) await sleep(deps.behaviour.latency_ms);
    if (res.destroyed || req.socket.destroyed) return;
    if (deps.behaviour.error_rate > 0 && Math.random() < deps.behaviour.error_rate)
      return twilioError(res, 500, 20500, 'An internal server error has occurred');
    const waitSeconds = deps.limiter.take(1, deps.behaviour.rate_per_second);
    if (waitSeconds > 0) {
      res.set('retry-after', String(waitSeconds));
      return twilioError(res, 429, 20429, 'Too Many Requests');
    }
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const now = new Date();
    deps.received.add([
      { message_id: sid, client_ref: sid, to, text: body, sender: from, received_at: now.getTime(), request_seq: deps.nextRequestSeq() },
    ]);
    if (statusCallback !== undefined) {
      deps.receipts.later(1, (settings) => sendStatusCallbacks(deps.authToken, statusCallback, { sid, accountSid, from, to }, settings));
    }
    const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`;
    res.status(201).json({
      account_sid: accountSid,
      api_version: '2010-04-01',
      body,
      date_created: now.toUTCString().replace('GMT', '+0000'),
      date_sent: null,
      date_updated: now.toUTCString().replace('GMT', '+0000'),
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from,
      messaging_service_sid: null,
      num_media: '0',
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid,
      status: 'queued',
      subresource_uris: { media: `${uri.replace('.json', '')}/Media.json` },
      to,
      uri,
    });
  });
  return router;
}

/** Posts `sent`, then the final status, to a message's StatusCallback as Twilio does. */
async function sendStatusCallbacks(
  authToken: string,
  url: string,
  message: { sid: string; accountSid: string; from: string; to: string },
  settings: ReceiptSettings,
): Promise<boolean> {
  const final = settings.status === 'delivered' ? 'delivered' : 'undelivered';
  const errorCode = settings.status === 'undelivered' ? (/^\d+$/.test(settings.error ?? '') ? settings.error : '30003') : undefined;
  let ok = true;
  for (const status of ['sent', final]) {
    const fields: Record<string, string> = {
      AccountSid: message.accountSid,
      ApiVersion: '2010-04-01',
      From: message.from,
      MessageSid: message.sid,
      MessageStatus: status,
      SmsSid: message.sid,
      SmsStatus: status,
      To: message.to,
      ...(status !== 'sent' && errorCode !== undefined ? { ErrorCode: errorCode } : {}),
    };
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(authToken, url, fields) },
      body: new URLSearchParams(fields).toString(),
    });
    await response.arrayBuffer();
    ok &&= response.ok;
  }
  return ok;
}

/** X-Twilio-Signature: HMAC-SHA1(auth token, URL + each field name+value sorted by name), base64. */
function sign(authToken: string, url: string, fields: Readonly<Record<string, string>>): string {
  const text = Object.keys(fields).sort().reduce((signed, name) => `${signed}${name}${fields[name] ?? ''}`, url);
  return createHmac('sha1', authToken).update(text, 'utf8').digest('base64');
}

/** An inbound SMS as the sandbox posts it to a number's webhook. */
export interface SandboxInbound {
  readonly from: string;
  readonly to: string;
  readonly body: string;
  /** Default: a new SM… id. The same id again is what a Twilio retry looks like. */
  readonly messageSid?: string;
  readonly accountSid: string;
}

/**
 * Posts an incoming message to `url` as Twilio posts to a number's "A message comes in"
 * webhook (twilio.com/docs/messaging/guides/webhook-request): form-encoded fields,
 * signed with X-Twilio-Signature over the URL under the auth token. Answers what the
 * webhook answered.
 */
export async function postTwilioInbound(authToken: string, url: string, message: SandboxInbound): Promise<{ status: number; contentType: string; body: string; messageSid: string }> {
  const messageSid = message.messageSid ?? `SM${randomBytes(16).toString('hex')}`;
  const fields: Record<string, string> = {
    ToCountry: 'US',
    ToState: 'CA',
    SmsMessageSid: messageSid,
    NumMedia: '0',
    ToCity: '',
    FromZip: '',
    SmsSid: messageSid,
    FromState: '',
    SmsStatus: 'received',
    FromCity: '',
    Body: message.body,
    FromCountry: '',
    To: message.to,
    ToZip: '',
    NumSegments: '1',
    MessageSid: messageSid,
    AccountSid: message.accountSid,
    From: message.from,
    ApiVersion: '2010-04-01',
  };
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(authToken, url, fields) },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text(), messageSid };
}
