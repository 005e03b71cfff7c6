// A journal of queued messages, written the way intake writes them (core's
// validateMessageRequest + acceptMessage, one `Journal.recordAccepted` per request of
// 1 000, two in flight) but without ingest or Redis: what the journal-ceiling and the
// BullMQ-plus-MongoDB baselines of `scripts/bench dispatcher` start from, so their
// documents and indexes are the ones the dispatcher's status writes meet.
import { acceptMessage, newId, validateMessageRequest, type Message } from '@commstrat/core';
import type { Journal, BatchRecord } from '@commstrat/journal';
import { smsMessage } from './payloads.ts';
import { formatCount, progress } from './progress.ts';

export interface QueuedJournal {
  /** Message ids in the order they were journaled (ULIDs: oldest first). */
  readonly ids: string[];
  /** Each message's phone number and text, parallel to `ids`. */
  readonly sms: { readonly to: string; readonly text: string }[];
  readonly seconds: number;
}

/** Journals `count` queued SMS of `tenantId` (payloads of payloads.ts, from message `offset` on). */
export async function fillQueuedJournal(
  journal: Journal,
  count: number,
  options: { readonly tenantId: string; readonly offset?: number; readonly label: string },
): Promise<QueuedJournal> {
  const ids: string[] = [];
  const sms: { to: string; text: string }[] = [];
  const started = performance.now();
  let reported = started;
  let next = 0;
  // Requests are built in order by one loop (ULIDs from one monotonic source); only
  // their writes overlap.
  const worker = async () => {
    while (next < count) {
      const from = next;
      const size = Math.min(1000, count - from);
      next += size;
      const now = new Date();
      const requestId = newId();
      const messages: Message[] = [];
      for (let i = 0; i < size; i += 1) {
        const body = smsMessage((options.offset ?? 0) + from + i);
        const message = acceptMessage(validateMessageRequest(body, now), {
          id: newId(),
          tenantId: options.tenantId,
          batchId: requestId,
          now,
        });
        messages.push(message);
        ids[from + i] = message.id;
        sms[from + i] = { to: body.recipient.phone, text: body.content.text };
      }
      const record: BatchRecord = {
        _id: requestId,
        tenant_id: options.tenantId,
        source: 'rest',
        received_at: now,
        body: {},
        message_ids: messages.map((m) => m.id),
        accepted_indexes: messages.map((_, i) => i),
        enqueued: true,
      };
      if (!(await journal.recordAccepted(record, messages))) throw new Error(`request ${requestId} journaled twice`);
      if (performance.now() - reported > 10_000) {
        reported = performance.now();
        progress(`${options.label}: ${formatCount(ids.length)} of ${formatCount(count)} journaled`);
      }
    }
  };
  await Promise.all([worker(), worker()]);
  return { ids, sms, seconds: (performance.now() - started) / 1000 };
}
