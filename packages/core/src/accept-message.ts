import { DEFAULT_PRIORITY } from './lanes.ts';
import type { Message, RenderedStep } from './message.ts';
import type { MessageRequest } from './message-schema.ts';
import { smsEncoding } from './sms-encoding.ts';

export interface AcceptContext {
  readonly id: string;
  readonly tenantId: string;
  /** The ingest batch it came in. */
  readonly batchId: string;
  readonly now: Date;
  /** The tenant has a default callback URL: the message takes status callbacks even without its own. */
  readonly tenantCallbacks?: boolean;
  /** What its templates rendered at intake, and the strategy version they were rendered for (the message is pinned to it). */
  readonly rendered?: RenderedTemplates;
}

/** A message's templates as intake rendered them. */
export interface RenderedTemplates {
  /** The locale asked for (recipient's, else the tenant's default), when there was one. */
  readonly locale?: string;
  readonly steps: readonly RenderedStep[];
  readonly strategy: string;
  readonly strategyVersion: number;
}

/**
 * Turns a validated request into the message the service keeps. A `send_at` in the
 * future makes it `scheduled`; otherwise it is `queued`. `ttl` becomes `expires_at`.
 * A text that may go as an SMS gets its encoding and part count (a rendered SMS step's
 * text, when there is one).
 */
export function acceptMessage(request: MessageRequest, context: AcceptContext): Message {
  const { now } = context;
  const sendAt = request.send_at === undefined ? undefined : new Date(request.send_at);
  const expiresAt =
    request.expires_at !== undefined
      ? new Date(request.expires_at)
      : request.ttl !== undefined
        ? new Date(now.getTime() + request.ttl * 1000)
        : undefined;
  const status = sendAt !== undefined && sendAt > now ? 'scheduled' : 'queued';
  // A message without a channel goes where its strategy says; with a phone number it
  // may well go as an SMS, so its parts are counted too.
  const maybeSms = request.channel === 'sms' || (request.channel === undefined && request.recipient.phone !== undefined);
  // A cascade's SMS step sends its own content when the message has one for SMS, or
  // what its template rendered.
  const { rendered } = context;
  const renderedSms = rendered?.steps.find((step) => step.channel === 'sms');
  const text = renderedSms?.content.text ?? request.content_by_channel?.sms?.text ?? request.content.text;
  return {
    id: context.id,
    tenant_id: context.tenantId,
    batch_id: context.batchId,
    channel: request.channel,
    strategy: rendered?.strategy ?? request.strategy,
    priority: request.priority ?? DEFAULT_PRIORITY,
    ...(request.category === undefined ? {} : { category: request.category }),
    recipient: request.recipient,
    content: request.content,
    ...(request.content_by_channel === undefined ? {} : { content_by_channel: request.content_by_channel }),
    ...(rendered === undefined
      ? {}
      : {
          ...(rendered.locale === undefined ? {} : { locale: rendered.locale }),
          rendered_steps: rendered.steps,
          // Rendered by this version's steps: every step is routed by it, as after a first routing.
          strategy_version: rendered.strategyVersion,
        }),
    idempotency_key: request.idempotency_key,
    tags: request.tags ?? [],
    metadata: request.metadata,
    callback_url: request.callback_url,
    ...(request.callback_url !== undefined || context.tenantCallbacks === true ? { callbacks: true } : {}),
    send_at: sendAt,
    expires_at: expiresAt,
    created_at: now,
    status,
    timeline: [
      { status: 'accepted', at: now },
      { status, at: now },
    ],
    ...((maybeSms || renderedSms !== undefined) && text !== undefined ? { sms: smsEncoding(text) } : {}),
  };
}
