import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response, type Router } from 'express';
import { isValidE164, signReceiptBody } from '@commstrat/core';
import type { RouteTable } from '@commstrat/observability';
import type { SandboxBehaviour, SecondWindowLimiter } from './behaviour.ts';
import type { ReceiptSender, ReceiptSettings } from './receipt-sender.ts';
import type { ReceivedSms, ReceivedStore } from './received-store.ts';

export interface SinchModeDeps {
  /** The API token clients must send as `Authorization: Bearer <token>`. */
  readonly apiToken: string;
  readonly behaviour: SandboxBehaviour;
  readonly limiter: SecondWindowLimiter;
  readonly received: ReceivedStore;
  /** When, with what status and signed with which secret reports are sent (PUT /_sandbox/receipts). */
  readonly receipts: ReceiptSender;
  readonly nextRequestSeq: () => number;
}

export const SINCH_ROUTES: RouteTable = { '/xms/v1/{plan}/batches': ['POST'] };

/** Sinch's error body for 400 and 403: `{code, text}`. */
function sinchError(res: Response, status: number, code: string, text: string): void {
  res.status(status).json({ code, text });
}

/** A batch id as Sinch shows them: 26 characters of Crockford base32 (a ULID). */
function batchId(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  return Array.from(randomBytes(26), (byte) => alphabet[byte % 32]).join('');
}

/**
 * Sinch SMS REST API v1 `POST /xms/v1/{service_plan_id}/batches` as its documentation
 * shows it: bearer token, JSON `{from, to: [...], body, delivery_report, callback_url}`,
 * 201 with the batch (`id`, `to`, `type: mt_text`, …); a malformed recipient refuses the
 * whole batch with 400 `syntax_invalid_parameter_format`, a missing field with 400
 * `syntax_constraint_violation`, both in Sinch's `{code, text}` body. With
 * `delivery_report: per_recipient` it reports each recipient to the batch's callback_url
 * (or the receipt URL of PUT /_sandbox/receipts) as `recipient_delivery_report_sms`: an
 * intermediate `Dispatched`, then `Delivered` or `Failed`, with HTTP basic auth when the
 * receipt settings provision a `basic` user (as Sinch does on request), else signed
 * X-Commstrat-Signature.
 */
export function sinchRoutes(deps: SinchModeDeps): Router {
  const router = express.Router();
  router.post('/xms/v1/:plan/batches', async (req: Request, res: Response) => {
    if (req.get('authorization') !== `Bearer ${deps.apiToken}`) {
      sinchError(res, 401, 'unauthorized', 'Invalid or missing bearer token');
      return;
    }
    const batch = (req.body ?? {}) as Record<string, unknown>;
    const { to, body, from } = batch;
    const callbackUrl = typeof batch['callback_url'] === 'string' ? batch['callback_url'] : undefined;
    const deliveryReport = typeof batch['delivery_report'] === 'string' ? batch['delivery_report'] : 'none';
    if (!Array.isArray(to) || to.length === 0 || to.length > 1000 || typeof body !== 'string')
      return sinchError(res, 400, 'syntax_constraint_violation', 'to must hold 1..1000 recipients and body is required');
    const recipients = to as unknown[];
    const bad = recipients.find((recipient) => typeof recipient !== 'string' || !/^\+?\d+$/.test(recipient) || !isValidE164(`+${recipient.replace(/^\+/, '')}`));
    if (bad !== undefined) return sinchError(res, 400, 'syntax_invalid_parameter_format', `Invalid MSISDN format: ${JSON.stringify(bad)}`);
    if (recipients.length > deps.behaviour.max_batch_size)
      return sinchError(res, 400, 'syntax_constraint_violation', `at most ${deps.behaviour.max_batch_size} recipients per batch`);
    if (!['none', 'summary', 'full', 'per_recipient', 'per_recipient_final'].includes(deliveryReport))
      return sinchError(res, 400, 'syntax_invalid_parameter_format', `delivery_report: ${deliveryReport} is not a valid value`);
    if (deps.behaviour.latency_ms > 0) await sleep(deps.behaviour.latency_ms);
    if (res.destroyed || req.socket.destroyed) return;
    if (deps.behaviour.error_rate > 0 && Math.random() < deps.behaviour.error_rate)
      return sinchError(res, 503, 'service_unavailable', 'The service is temporarily unavailable');
    const waitSeconds = deps.limiter.take(recipients.length, deps.behaviour.rate_per_second);
    if (waitSeconds > 0) {
      res.set('retry-after', String(waitSeconds));
      return sinchError(res, 429, 'too_many_requests', 'Too many requests');
    }
    const id = batchId();
    const now = new Date();
    const seq = deps.nextRequestSeq();
    const numbers = recipients as string[];
    deps.received.add(
      numbers.map((recipient): ReceivedSms => ({
        message_id: `${id}:${recipient.replace(/^\+/, '')}`,
        client_ref: typeof batch['client_reference'] === 'string' ? batch['client_reference'] : undefined,
        to: `+${recipient.replace(/^\+/, '')}`,
        text: body,
        sender: typeof from === 'string' ? from : undefined,
        received_at: now.getTime(),
        request_seq: seq,
      })),
    );
    if (deliveryReport === 'per_recipient' || deliveryReport === 'per_recipient_final') {
      deps.receipts.later(numbers.length, (settings) =>
        sendReports(callbackUrl ?? settings.url, id, numbers, deliveryReport === 'per_recipient', settings),
      );
    }
    res.status(201).json({
      id,
      to: numbers,
      ...(typeof from === 'string' ? { from } : {}),
      canceled: false,
      body,
      type: 'mt_text',
      created_at: now.toISOString(),
      modified_at: now.toISOString(),
      delivery_report: deliveryReport,
      expire_at: new Date(now.getTime() + 3 * 86_400_000).toISOString(),
      ...(callbackUrl === undefined ? {} : { callback_url: callbackUrl }),
      ...(typeof batch['client_reference'] === 'string' ? { client_reference: batch['client_reference'] } : {}),
      flash_message: false,
    });
  });
  return router;
}

/** One report per recipient and status change, as Sinch's per_recipient callbacks. */
async function sendReports(url: string, id: string, recipients: readonly string[], intermediate: boolean, settings: ReceiptSettings): Promise<boolean> {
  const delivered = settings.status === 'delivered';
  const steps: [string, number][] = [
    ...(intermediate ? ([['Dispatched', 401]] as [string, number][]) : []),
    delivered ? ['Delivered', 0] : ['Failed', /^\d+$/.test(settings.error ?? '') ? Number(settings.error) : 402],
  ];
  let ok = true;
  for (const [status, code] of steps) {
    for (const recipient of recipients) {
      const at = new Date().toISOString();
      const body = JSON.stringify({
        at,
        batch_id: id,
        code,
        operator_status_at: at,
        recipient: recipient.replace(/^\+/, ''),
        status,
        type: 'recipient_delivery_report_sms',
      });
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          // Sinch authenticates callbacks as provisioned for the account: basic auth here, else our signature.
          ...(settings.basic === undefined
            ? { 'x-commstrat-signature': signReceiptBody(settings.secret, body, new Date()) }
            : { authorization: `Basic ${Buffer.from(`${settings.basic.username}:${settings.basic.password}`).toString('base64')}` }),
        },
        body,
      });
      await response.arrayBuffer();
      ok &&= response.ok;
    }
  }
  return ok;
}
