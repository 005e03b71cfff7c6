import type { Message } from '@commstrat/core';

/** The raw incoming request, kept as received. */
export interface BatchRecord {
  readonly _id: string;
  readonly tenant_id: string;
  /**
   * `redrive`: made by `commstrat replay dlq` or `commstrat redrive`, its body the
   * original's id; `inbound`: a reply to an inbound keyword.
   */
  readonly source: 'rest' | 'kafka' | 'redrive' | 'inbound';
  readonly received_at: Date;
  readonly body: unknown;
  readonly message_ids: readonly string[];
  /** Index in the request of each accepted message, parallel to `message_ids`. */
  readonly accepted_indexes?: readonly number[];
  /** Set by the recovery pass once it verified the request's messages reached Redis. */
  readonly enqueued: boolean;
  /** Per-item results for batch requests, so a replayed request answers the same. */
  readonly rejected?: readonly unknown[];
}

/**
 * A message as the `messages` collection holds it. Its batch id is stored as
 * `request_id`, its name in 0.1, so that journals written before read as they are; the
 * code and the API call it `batch_id` (toDocument / fromDocument map it). No index is
 * kept on it: a batch's messages are the ids its request holds (indexes.ts).
 */
export type MessageDocument = Omit<Message, 'id' | 'batch_id' | 'tags'> & {
  _id: string;
  request_id: string;
  /** Absent when the message has none, so that it stays out of the tag index (partial). */
  tags?: readonly string[];
  callback_due?: boolean;
  callback_seq?: number;
};

export function toDocument(message: Message): MessageDocument {
  const { id, batch_id, tags, ...rest } = message;
  return {
    _id: id,
    request_id: batch_id,
    ...rest,
    ...(tags.length > 0 ? { tags } : {}),
    // Its first events (accepted, queued) are called back too: the outbox flag goes with them.
    ...(message.callbacks === true ? { callback_due: true } : {}),
  };
}

export function fromDocument(document: MessageDocument): Message {
  const { _id, request_id, tags, callback_due: _due, callback_seq: _seq, ...rest } = document;
  return { id: _id, batch_id: request_id, ...rest, tags: tags ?? [] };
}
