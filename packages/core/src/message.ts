import type { Priority } from './lanes.ts';
import type { Channel, MessageRequest } from './message-schema.ts';
import type { SmsEncodingInfo } from './sms-encoding.ts';

export const TERMINAL_STATES = ['delivered', 'failed', 'expired', 'cancelled', 'rejected'] as const;
/**
 * `next_step`: a cascade moved the message on from a step that failed or got no delivery
 * receipt in time; it waits to be sent by the next step (StatusEvent.step says which).
 */
export const ACTIVE_STATES = ['accepted', 'queued', 'scheduled', 'sending', 'sent', 'next_step'] as const;

export type MessageStatus = (typeof TERMINAL_STATES)[number] | (typeof ACTIVE_STATES)[number];

/** One entry of a message's status timeline. */
export interface StatusEvent {
  readonly status: MessageStatus;
  readonly at: Date;
  readonly reason?: string;
  readonly provider?: string;
  readonly provider_message_id?: string;
  /** The provider exchange that carried it (`sending`, `sent`). */
  readonly exchange_id?: string;
  /** The strategy, by name and version, the message was routed with (`sending`). */
  readonly strategy?: string;
  readonly strategy_version?: number;
  /** The index of the strategy step the event belongs to (`sending`, `sent`, `next_step`); absent: 0. */
  readonly step?: number;
}

/** What a message says, per channel: the step of a cascade on that channel sends it instead of `content`. */
export type ContentByChannel = NonNullable<MessageRequest['content_by_channel']>;

/**
 * What a step of a message's strategy sends, rendered from a template at intake
 * (docs/templates.md): the content the step would have sent, with the template's
 * fields laid over it. The message is pinned to the template version named here.
 */
export interface RenderedStep {
  /** Index into the strategy's steps. */
  readonly step: number;
  /** The step's channel, the template's channel the content was rendered from. */
  readonly channel: Channel;
  readonly template: string;
  readonly template_version: number;
  /** The locale of the variant used: the first of the message locale's fallback chain the template has, else its default. */
  readonly locale: string;
  readonly content: MessageRequest['content'];
}

/**
 * What a template rendered for a step, as a lane entry carries it: the fields the
 * template wrote and nothing else. The rest of the step's content (`template_id`,
 * `variables`, ...) is the message's own, laid under it again when the step is sent
 * (stepContent), and which template, version and locale rendered it is the journal's:
 * a templated e-mail-and-SMS message's entry is half the size it would be with whole
 * RenderedSteps (docs/benchmarks.md).
 */
export interface QueuedRenderedStep {
  readonly step: number;
  readonly channel: Channel;
  readonly content: Pick<MessageRequest['content'], 'subject' | 'text' | 'html'>;
}

/** A message as the service keeps it: the producer's fields plus what the server assigned. */
export interface Message {
  readonly id: string;
  readonly tenant_id: string;
  /** The ingest batch (one REST or Kafka request) it came in; a single message is a batch of one. */
  readonly batch_id: string;
  readonly channel: Channel | undefined;
  readonly strategy: string | undefined;
  readonly priority: Priority;
  /** The producer's category (e.g. `marketing`), what frequency caps count by; absent: none. */
  readonly category?: string;
  readonly recipient: MessageRequest['recipient'];
  readonly content: MessageRequest['content'];
  /** Content for the cascade steps on other channels; absent: `content` everywhere. */
  readonly content_by_channel?: ContentByChannel;
  /**
   * The locale asked for: the recipient's `locale`, else the tenant's default (canonical
   * BCP 47). Set when the message names a template; each rendered step says which
   * variant it got.
   */
  readonly locale?: string;
  /** The steps whose content a template rendered; the message is pinned to the strategy version they were rendered for. */
  readonly rendered_steps?: readonly RenderedStep[];
  readonly idempotency_key: string | undefined;
  readonly tags: readonly string[];
  readonly metadata: Record<string, unknown> | undefined;
  readonly callback_url: string | undefined;
  /**
   * Its status changes are called back: it has a `callback_url`, or its tenant had a
   * default one when it was accepted (the URL itself is looked up when each callback goes).
   */
  readonly callbacks?: boolean;
  readonly send_at: Date | undefined;
  readonly expires_at: Date | undefined;
  readonly created_at: Date;
  readonly status: MessageStatus;
  readonly timeline: readonly StatusEvent[];
  /**
   * The version of `strategy` the message was routed with; absent until it was routed
   * (`strategy` then names the strategy that routed it, also when the producer left it
   * to the channel's default).
   */
  readonly strategy_version?: number;
  /** The strategy step it is on (index into the strategy's steps); absent until routed: 0. */
  readonly step?: number;
  /** The provider it was last handed to, and that provider's id for it (what receipts name). */
  readonly provider?: string;
  readonly provider_message_id?: string;
  /** When the status last changed. */
  readonly updated_at?: Date;
  /** How its text goes as an SMS (set when it may go as one): what a provider bills. */
  readonly sms?: SmsEncodingInfo;
  /** The finished message this one re-sends (`commstrat replay dlq` / `redrive`). */
  readonly redrive_of?: string;
  /**
   * The message that re-sends this finished one. Set once, by a conditional write that
   * only succeeds while it is absent: what sends each original at most once again.
   */
  readonly redriven_as?: string;
}

/** What travels in a lane entry: enough to dispatch without reading the journal. */
export interface QueuedMessage {
  readonly id: string;
  readonly tenant_id: string;
  readonly channel: Channel | undefined;
  readonly strategy: string | undefined;
  readonly priority: Priority;
  /** As on the Message; absent when the producer gave none. */
  readonly category?: string;
  readonly recipient: MessageRequest['recipient'];
  readonly content: MessageRequest['content'];
  readonly expires_at: string | undefined;
  /** When the message was accepted (ISO 8601): the strategy's TTL counts from here. */
  readonly created_at?: string;
  /** Attempts made so far on its current step; absent before the first. */
  readonly attempts?: number;
  readonly content_by_channel?: ContentByChannel;
  /** What its templates rendered, per step: only the rendered fields (the Message has the rest). */
  readonly rendered_steps?: readonly QueuedRenderedStep[];
  /** The strategy step to send it by (cascade); absent: 0. */
  readonly step?: number;
  /**
   * The strategy version it was first routed with: every later step and retry is routed
   * by this version (pinning), not by a newer one. Absent until first routed.
   */
  readonly strategy_version?: number;
  /**
   * Set on a cascade timer, not a send: the entry comes due when step `receipt_timer`
   * has waited its `within_seconds` for a delivery receipt, and moves the message on if
   * it is still `sent` on that step.
   */
  readonly receipt_timer?: number;
}

export function toQueuedMessage(message: Message): QueuedMessage {
  return {
    id: message.id,
    tenant_id: message.tenant_id,
    channel: message.channel,
    strategy: message.strategy,
    priority: message.priority,
    ...(message.category === undefined ? {} : { category: message.category }),
    recipient: message.recipient,
    content: message.content,
    ...(message.content_by_channel === undefined ? {} : { content_by_channel: message.content_by_channel }),
    ...(message.rendered_steps === undefined ? {} : { rendered_steps: message.rendered_steps.map(toQueuedRenderedStep) }),
    ...(message.step === undefined ? {} : { step: message.step }),
    ...(message.strategy_version === undefined ? {} : { strategy_version: message.strategy_version }),
    expires_at: message.expires_at?.toISOString(),
    created_at: message.created_at.toISOString(),
  };
}

/** A rendered step as its lane entry carries it: the template's fields (intake laid them over the step's content, which stays the message's). */
function toQueuedRenderedStep({ step, channel, content }: RenderedStep): QueuedRenderedStep {
  const { subject, text, html } = content;
  return {
    step,
    channel,
    content: {
      ...(subject === undefined ? {} : { subject }),
      ...(text === undefined ? {} : { text }),
      ...(html === undefined ? {} : { html }),
    },
  };
}
