import express, { type Response, type Router } from 'express';
import {
  NotFoundError,
  ACTIVE_STATES,
  parseBatchEnvelope,
  TERMINAL_STATES,
  ValidationError,
  type FieldProblem,
  type Message,
  type MessageStatus,
} from '@commstrat/core';
import type { Tenant } from '@commstrat/config';
import type { Journal, MessageQuery } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import type { Intake } from './intake.ts';
import { pathParam, requireScope } from './route-support.ts';

export interface V1Deps {
  readonly intake: Intake;
  readonly journal: Journal;
  /** Most messages in one batch request. */
  readonly maxBatchMessages: number;
}

export interface RequestState {
  requestId: string;
  tenant?: Tenant;
  logger: Logger;
}

export const state = (res: Response): RequestState => res.locals as RequestState;
const tenantOf = (res: Response): Tenant => {
  const tenant = state(res).tenant;
  if (tenant === undefined) throw new Error('route reached without authentication');
  return tenant;
};

const STATUSES: readonly string[] = [...ACTIVE_STATES, ...TERMINAL_STATES];

/** RFC 3339 date-time, as the OpenAPI document says (`new Date` alone takes far more). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** The authenticated /v1 routes. Body parsing and auth are mounted by the caller. */
export function v1Routes(deps: V1Deps, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();
  // send: submit and cancel; read: look up. Checked before a body is read.

  router.post('/messages', requireScope('send'), ...parseJson, async (req, res) => {
    const item = await deps.intake.acceptOne(tenantOf(res), 'rest', req.body);
    state(res).logger.info('message accepted', { message_id: item.id, batch_id: item.batchId });
    res.status(202).json({ id: item.id, status: item.status });
  });

  router.post('/messages/batch', requireScope('send'), ...parseJson, async (req, res) => {
    const { messages, atomic } = parseBatchEnvelope(req.body, deps.maxBatchMessages);
    const outcome = await deps.intake.acceptBatch(tenantOf(res), 'rest', messages, { atomic, rawBody: req.body });
    state(res).logger.info('batch accepted', {
      batch_id: outcome.batchId,
      accepted: outcome.accepted.length,
      rejected: outcome.rejected.length,
    });
    const status = outcome.rejected.length === 0 ? 202 : outcome.accepted.length === 0 ? 422 : 207;
    res.status(status).json({ batch_id: outcome.batchId, accepted: outcome.accepted, rejected: outcome.rejected });
  });

  router.get('/messages', requireScope('read'), async (req, res) => {
    const query = parseListQuery(req.query);
    const page = await deps.journal.listMessages(tenantOf(res).id, query);
    res.json({ messages: page.messages.map((message) => messageView(message)), next_after: page.nextAfter });
  });

  router.get('/messages/:id', requireScope('read'), async (req, res) => {
    const message = await deps.journal.findMessage(tenantOf(res).id, pathParam(req, 'id'));
    if (message === null) throw new NotFoundError('message');
    res.json(messageView(message));
  });

  router.delete('/messages/:id', requireScope('send'), async (req, res) => {
    const id = pathParam(req, 'id');
    await deps.intake.cancel(tenantOf(res), id);
    state(res).logger.info('message cancelled', { message_id: id });
    res.json({ id, status: 'cancelled' });
  });

  router.get('/batches/:id', requireScope('read'), async (req, res) => {
    const tenant = tenantOf(res);
    const id = pathParam(req, 'id');
    const request = await deps.journal.findBatch(id);
    if (request === null || request.tenant_id !== tenant.id) throw new NotFoundError('batch');
    res.json({
      id,
      source: request.source,
      received_at: request.received_at,
      accepted: request.message_ids.length,
      rejected: request.rejected?.length ?? 0,
      by_status: await deps.journal.countByStatus(tenant.id, id),
    });
  });

  return router;
}

/** The filters of a message listing (`GET /v1/messages` and the console's search), each bad one named in a ValidationError. */
export function parseListQuery(query: Record<string, unknown>): MessageQuery {
  const problems: FieldProblem[] = [];
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') problems.push({ path: `/${name}`, message: 'must be given once' });
    return typeof value === 'string' ? value : undefined;
  };
  const date = (name: string): Date | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const parsed = new Date(value);
    if (!RFC3339.test(value) || Number.isNaN(parsed.getTime())) {
      problems.push({ path: `/${name}`, message: 'must be an RFC 3339 date-time' });
    }
    return parsed;
  };
  const status = text('status');
  if (status !== undefined && !STATUSES.includes(status)) {
    problems.push({ path: '/status', message: `must be one of: ${STATUSES.join(', ')}` });
  }
  const limitText = text('limit') ?? '100';
  const limit = Number(limitText);
  if (!/^[0-9]{1,4}$/.test(limitText) || limit < 1 || limit > 1000) {
    problems.push({ path: '/limit', message: 'must be an integer from 1 to 1000' });
  }
  const result: MessageQuery = {
    limit,
    ...optional('status', status as MessageStatus | undefined),
    ...optional('tag', text('tag')),
    ...optional('from', date('from')),
    ...optional('to', date('to')),
    ...optional('batchId', text('batch_id')),
    ...optional('after', text('after')),
  };
  if (problems.length > 0) throw new ValidationError(problems);
  return result;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/**
 * The public view of a message: its fields, current state, the strategy version and
 * provider it was sent with, and its status timeline (the internal exchange id stays out).
 */
export function messageView(message: Message): Record<string, unknown> {
  return {
    id: message.id,
    batch_id: message.batch_id,
    status: message.status,
    channel: message.channel,
    strategy: message.strategy,
    strategy_version: message.strategy_version,
    step: message.step,
    provider: message.provider,
    provider_message_id: message.provider_message_id,
    priority: message.priority,
    category: message.category,
    recipient: message.recipient,
    tags: message.tags,
    idempotency_key: message.idempotency_key,
    created_at: message.created_at,
    send_at: message.send_at,
    expires_at: message.expires_at,
    sms: message.sms,
    // Which template version and locale each step was rendered with; what it rendered is in the journal.
    locale: message.locale,
    templates: message.rendered_steps?.map((rendered) => ({
      step: rendered.step,
      channel: rendered.channel,
      template: rendered.template,
      version: rendered.template_version,
      locale: rendered.locale,
    })),
    timeline: message.timeline.map(({ exchange_id: _exchangeId, ...event }) => event),
    // Links of a re-drive (`commstrat replay dlq` / `redrive`): the message this one re-sends, or the one that re-sends it.
    redrive_of: message.redrive_of,
    redriven_as: message.redriven_as,
  };
}

