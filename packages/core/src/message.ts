import type { Priority } from './lanes.ts';
import type { Channel, MessageRequest } from './message-schema.ts';
import type { SmsEncodingInfo } from './sms-encoding.ts';

export const TERMINAL_STATES = ['delivered', 'failed', 'expired', 'cancelled', 'rejected'] as const;
export const ACTIVE_STATES = ['accepted', 'queued', 'scheduled', 'sending', 'sent'] as const;

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
}

/** A message as the service keeps it: the producer's fields plus what the server assigned. */
export interface Message {
  readonly id: string;
  readonly tenant_id: string;
  readonly request_id: string;
  readonly channel: Channel | undefined;
  readonly strategy: string | undefined;
  readonly priority: Priority;
  /** The producer's category (e.g. `marketing`), what frequency caps count by; absent: none. */
  readonly category?: string;
  readonly recipient: MessageRequest['recipient'];
  readonly content: MessageRequest['content'];
  readonly idempotency_key: string | undefined;
  readonly tags: readonly string[];
  readonly metadata: Record<string, unknown> | undefined;
  readonly callback_url: string | undefined;
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
  /** Attempts made so far; absent before the first. */
  readonly attempts?: number;
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
    expires_at: message.expires_at?.toISOString(),
    created_at: message.created_at.toISOString(),
  };
}
