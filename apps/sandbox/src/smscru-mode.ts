import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response, type Router } from 'express';
import { isValidE164, signReceiptBody } from '@commstrat/core';
import type { SandboxBehaviour, SecondWindowLimiter } from './behaviour.ts';
import type { ReceiptSender, ReceiptSettings } from './receipt-sender.ts';
import type { ReceivedSms, ReceivedStore } from './received-store.ts';

export interface SmscruModeDeps {
  /** The account's login; the password is the sandbox token. */
  readonly login: string;
  readonly password: string;
  readonly behaviour: SandboxBehaviour;
  readonly limiter: SecondWindowLimiter;
  readonly received: ReceivedStore;
  /**
   * When and with what status callbacks are sent (PUT /_sandbox/receipts): to the
   * settings' url (SMSC.ru calls the one URL set in the account's settings), form-encoded,
   * signed X-Commstrat-Signature with the settings' secret.
   */
  readonly receipts: ReceiptSender;
  readonly nextRequestSeq: () => number;
}

/** SMSC.ru's error texts by code (fmt=3 answers carry both). */
const ERRORS: Readonly<Record<number, string>> = {
  1: 'parameters error',
  2: 'authorise error',
  3: 'no money',
  4: 'IP is blocked',
  5: 'invalid date format',
  6: 'message is denied',
  7: 'invalid phone format',
  8: "message to this phone can't be delivered",
  9: 'duplicate request, wait a minute',
};

/** Test controls at /_sandbox/smscru: force an error code for every send, see counts. */
interface SmscruControls {
  force_error: number | null;
  requests: number;
}

/**
 * SMSC.ru `POST /sys/send.php` as its documentation describes it: login and psw,
 * `phones` comma-separated (one text to all of them), `mes`, `fmt=3` for JSON answers
 * `{id, cnt}` or `{error, error_code}`, every answer HTTP 200. The sandbox's behaviour
 * (latency, error_rate as HTTP 503 of the front end, rate_per_second as error 9) applies.
 * Each accepted phone gets status callbacks (form fields id, phone, status, err, ts): an
 * intermediate 0 (passed to the operator), then 1 (delivered) or a final failure code.
 */
export function smscruRoutes(deps: SmscruModeDeps): Router {
  const controls: SmscruControls = { force_error: null, requests: 0 };
  let nextId = 1;
  const router = express.Router();
  router.use('/sys/send.php', express.urlencoded({ extended: false, limit: '2mb' }));
  router.post('/sys/send.php', async (req: Request, res: Response) => {
    controls.requests += 1;
    const params = { ...(req.query as Record<string, unknown>), ...((req.body ?? {}) as Record<string, unknown>) };
    const answer = (code: number, id?: number) =>
      res.json({ error: ERRORS[code], error_code: code, ...(id === undefined ? {} : { id }) });
    if (params['fmt'] !== '3') {
      // Only the JSON form is played; the plain-text answer would say the same.
      res.type('text/plain').send('ERROR = 1 (parameters error)');
      return;
    }
    if (params['login'] !== deps.login || params['psw'] !== deps.password) {
      answer(2);
      return;
    }
    const phones = typeof params['phones'] === 'string' ? params['phones'].split(/[,;]/).filter((p) => p !== '') : [];
    const text = params['mes'];
    if (phones.length === 0 || typeof text !== 'string' || text === '') {
      answer(1);
      return;
    }
    if (deps.behaviour.latency_ms > 0) await sleep(deps.behaviour.latency_ms);
    if (res.destroyed || req.socket.destroyed) return;
    if (deps.behaviour.error_rate > 0 && Math.random() < deps.behaviour.error_rate) {
      res.status(503).type('text/html').send('<html><body>503 Service Temporarily Unavailable</body></html>');
      return;
    }
    if (controls.force_error !== null) {
      // The documentation gives an id with errors 3, 6, 7 and 8 only.
      answer(controls.force_error, [3, 6, 7, 8].includes(controls.force_error) ? nextId++ : undefined);
      return;
    }
    if (deps.limiter.take(phones.length, deps.behaviour.rate_per_second) > 0) {
      answer(9);
      return;
    }
    const valid = phones.map((phone) => (phone.startsWith('+') ? phone : `+${phone}`)).filter((phone) => isValidE164(phone));
    const id = nextId++;
    if (valid.length === 0) {
      answer(7, id);
      return;
    }
    const seq = deps.nextRequestSeq();
    const now = Date.now();
    const sender = typeof params['sender'] === 'string' && params['sender'] !== '' ? params['sender'] : undefined;
    const stored: ReceivedSms[] = valid.map((to) => ({
      message_id: `${id}:${to.slice(1)}`,
      client_ref: undefined,
      to,
      text,
      sender,
      received_at: now,
      request_seq: seq,
    }));
    deps.received.add(stored);
    deps.receipts.later(valid.length, (settings) => sendStatusCallbacks(id, valid, settings));
    // cnt counts SMS parts; one part per number is enough for the sandbox.
    res.json({ id, cnt: valid.length });
  });

  router.get('/_sandbox/smscru', (_req, res) => {
    res.json(controls);
  });
  router.put('/_sandbox/smscru', express.json(), (req, res) => {
    const force = (req.body as { force_error?: unknown } | undefined)?.force_error;
    if (!(force === null || (typeof force === 'number' && ERRORS[force] !== undefined))) {
      res.status(422).json({ error: { code: 'validation_failed', message: '/force_error: 1..9 or null' } });
      return;
    }
    controls.force_error = force;
    res.json(controls);
  });
  return router;
}

/** SMSC.ru's final failure statuses: 3 expired, 20 impossible to deliver, 22 invalid number, 23 prohibited, 24 no money, 25 unavailable number. */
const FAILED_STATUSES = ['3', '20', '22', '23', '24', '25'];

/** Posts status 0, then the final one, for every phone of a send, one form POST each. */
async function sendStatusCallbacks(id: number, phones: readonly string[], settings: ReceiptSettings): Promise<boolean> {
  const final = settings.status === 'delivered' ? '1' : FAILED_STATUSES.includes(settings.error ?? '') ? (settings.error as string) : '20';
  let ok = true;
  for (const status of ['0', final]) {
    for (const phone of phones) {
      const body = new URLSearchParams({
        id: String(id),
        phone: phone.replace(/^\+/, ''),
        status,
        err: status === '1' || status === '0' ? '0' : '1',
        ts: String(Math.floor(Date.now() / 1000)),
      }).toString();
      const response = await fetch(settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-commstrat-signature': signReceiptBody(settings.secret, body, new Date()) },
        body,
      });
      await response.arrayBuffer();
      ok &&= response.ok;
    }
  }
  return ok;
}
