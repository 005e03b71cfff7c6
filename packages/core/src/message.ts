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
    ...(message.step === undefined ? {} : { step: message.step }),
    ...(message.strategy_version === undefined ? {} : { strategy_version: message.strategy_version }),
    expires_at: message.expires_at?.toISOString(),
    created_at: message.created_at.toISOString(),
  };
}
