import express, { type Router } from 'express';
import { DependencyUnavailableError, UnauthorizedError, ValidationError, canonicalE164, parseInbound, type FieldProblem } from '@commstrat/core';
import { inboundPayload, type InboundRecord, type InboundStore } from '@commstrat/journal';
import { mapProviderInbound } from '@commstrat/providers';
import type { IngestMetrics } from '@commstrat/observability';
import type { InboundHandler } from './inbound-handler.ts';
import { callerOf, pathParam, requireScope } from './route-support.ts';
import { authenticateWebhook, rawBody, type WebhookAuthDeps } from './webhook-auth.ts';

export interface InboundDeps extends WebhookAuthDeps {
  readonly handler: Pick<InboundHandler, 'receive'>;
  readonly metrics: IngestMetrics;
  readonly maxBodyBytes: number;
}

/**
 * `POST /v1/providers/{tenant}/{provider}/inbound`: messages recipients sent to the
 * tenant's number, from its provider. The generic JSON format (`{"messages": [...]}`)
 * signed like receipts (X-Commstrat-Signature under the provider's receipt secret, with
 * the replay guard), or — for a provider whose definition has an `inbound:` mapping — the
 * provider's own webhook, authenticated as the mapping says (Twilio: form fields and
 * X-Twilio-Signature over the number's webhook URL). Each message is journaled, its
 * keyword carried out, and it is forwarded to the tenant's callback URL. A provider's
 * retry of a message it reported before is answered the same and changes nothing.
 */
export function inboundRoutes(deps: InboundDeps): Router {
  const router = express.Router();
  router.post('/providers/:tenant/:provider/inbound', rawBody(deps.maxBodyBytes), async (req, res) => {
    const tenant = pathParam(req, 'tenant');
    const provider = pathParam(req, 'provider');
    const key = `${tenant}/${provider}`;
    const refuse = (why: string) => {
      deps.metrics.inbound(key, 'refused');
      return new UnauthorizedError(`inbound request refused: ${why}`);
    };
    const { read, mapping } = await authenticateWebhook(deps, req, 'inbound', (row) => row.inbound, refuse);
    const reports = mapping === undefined ? parseInbound(read.asJson()) : mapProviderInbound(mapping, read.as(mapping));
    const received = await deps.handler.receive(tenant, provider, reports, new Date());
    const repeated = received.filter((item) => item.repeated).length;
    if (received.length > repeated) deps.metrics.inbound(key, 'received', received.length - repeated);
    if (repeated > 0) deps.metrics.inbound(key, 'repeated', repeated);
    if (mapping?.answer !== undefined) {
      res.type(mapping.answer.content_type).send(mapping.answer.body);
      return;
    }
    res.json({
      received: received.length,
      messages: received.map(({ record, repeated: again }) => ({ id: record._id, keyword: record.keyword?.action ?? null, repeated: again })),
    });
  });
  return router;
}

/** `GET /v1/inbound`: the tenant's inbound messages, newest first (a `read` key). */
export function inboundListRoutes(store: Pick<InboundStore, 'list'>): Router {
  const router = express.Router();
  router.get('/inbound', requireScope('read'), async (req, res) => {
    const problems: FieldProblem[] = [];
    const { from, after, limit: limitText = '100' } = req.query;
    const limit = Number(limitText);
    if (typeof limitText !== 'string' || !/^[0-9]{1,4}$/.test(limitText) || limit < 1 || limit > 1000) {
      problems.push({ path: '/limit', message: 'must be an integer from 1 to 1000' });
    }
    // A `+` left unencoded in a query string reads as a space.
    const spelled = typeof from === 'string' && /^ \d/.test(from) ? `+${from.slice(1)}` : from;
    const fromPhone = typeof spelled === 'string' ? canonicalE164(spelled) : undefined;
    if (from !== undefined && fromPhone === undefined) problems.push({ path: '/from', message: 'must be a phone number in international form, URL-encoded (%2B…)' });
    if (after !== undefined && (typeof after !== 'string' || !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(after))) {
      problems.push({ path: '/after', message: 'must be the next_after of the previous page' });
    }
    if (problems.length > 0) throw new ValidationError(problems);
    const page = await store
      .list(callerOf(res).id, { limit, ...(fromPhone === undefined ? {} : { fromPhone }), ...(typeof after === 'string' ? { after } : {}) })
      .catch((cause: unknown) => {
        throw new DependencyUnavailableError('journal (MongoDB)', cause);
      });
    res.json({ messages: page.messages.map(inboundView), next_after: page.nextAfter });
  });
  return router;
}

/**
 * A listed inbound message: the fields its callback carries, less those the listing does
 * not repeat (the event's type and id, the tenant); `action` is null until it is handled.
 */
function inboundView(record: InboundRecord): Record<string, unknown> {
  const { type: _type, event_id: _eventId, tenant_id: _tenantId, inbound_id: id, ...fields } = inboundPayload(record);
  return { id, ...fields, action: record.action ?? null };
}
