import type { StatusEvent } from '@commstrat/core';
import type { AnyBulkWriteOperation, Db, Document } from 'mongodb';

/**
 * A journal written by commstrat 0.1 (on FerretDB) never updated its message documents:
 * each kept the status it was accepted with, and later events lived in `status_events`
 * documents and in `events` of provider exchanges, merged on every read. This one-off
 * conversion writes each message's whole timeline, status and provider id into its own
 * document, then drops what is no longer read. It pages through the messages by id and
 * can be interrupted and run again: an event already in a timeline is not added twice.
 */
export async function migrateTimelines(
  db: Db,
  options: { pageSize?: number; progress?: (done: number, total: number) => void } = {},
): Promise<{ messages: number; changed: number }> {
  const pageSize = options.pageSize ?? 500;
  const messages = db.collection<{ _id: string } & Document>('messages');
  const runs = db.collection<Document>('status_events');
  const exchanges = db.collection<Document>('provider_exchanges');
  const total = await messages.estimatedDocumentCount();
  let done = 0;
  let changed = 0;
  let after: string | undefined;
  for (;;) {
    const page = await messages
      .find(after === undefined ? {} : { _id: { $gt: after } }, { projection: { _id: 1, timeline: 1 } })
      .sort({ _id: 1 })
      .limit(pageSize)
      .toArray();
    if (page.length === 0) break;
    const ids = page.map((document) => String(document['_id']));
    const [pageRuns, pageExchanges] = await Promise.all([
      runs.find({ message_ids: { $in: ids } }).toArray(),
      exchanges.find({ message_ids: { $in: ids } }, { projection: { message_ids: 1, events: 1, provider_message_ids: 1 } }).toArray(),
    ]);
    const operations: AnyBulkWriteOperation<{ _id: string } & Document>[] = [];
    for (const document of page) {
      const id = String(document['_id']);
      const own = (document['timeline'] as StatusEvent[] | undefined) ?? [];
      const timeline = mergedTimeline(id, own, [...pageRuns, ...pageExchanges] as unknown as EventSource[]);
      if (timeline.length === own.length) continue;
      const last = timeline.at(-1);
      const sent = timeline.findLast((event) => event.provider_message_id !== undefined);
      operations.push({
        updateOne: {
          filter: { _id: id },
          update: {
            $set: {
              timeline,
              status: last?.status,
              updated_at: last?.at,
              ...(last?.provider === undefined ? {} : { provider: last.provider }),
              ...(sent?.provider_message_id === undefined ? {} : { provider_message_id: sent.provider_message_id }),
            },
          },
        },
      });
    }
    if (operations.length > 0) changed += (await messages.bulkWrite(operations, { ordered: false })).modifiedCount;
    done += page.length;
    after = ids.at(-1);
    options.progress?.(done, total);
  }
  await runs.drop().catch(() => undefined);
  await exchanges.updateMany({ events: { $exists: true } }, { $unset: { events: '' } });
  return { messages: done, changed };
}

/** A journal document of the old layout that holds events of some messages: a run or an exchange. */
interface EventSource {
  readonly _id: string;
  readonly message_ids: readonly string[];
  readonly events?: readonly StatusEvent[];
  readonly provider_message_ids?: readonly (string | null)[];
}

/**
 * One message's timeline: its own events, then those of `sources` by time, each `sent`
 * event given the provider's id from the exchange that carried it. Sources are taken in
 * id order (ULIDs: creation order), so events of the same millisecond keep the order
 * they were recorded in; an event the timeline already has is skipped.
 */
function mergedTimeline(id: string, own: readonly StatusEvent[], sources: readonly EventSource[]): StatusEvent[] {
  const seen = new Set(own.map(eventKey));
  const byId = new Map(sources.map((source) => [source._id, source]));
  const added: StatusEvent[] = [];
  for (const source of [...sources].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))) {
    if (!source.message_ids.includes(id)) continue;
    for (const event of source.events ?? []) {
      const exchange = event.exchange_id === undefined ? undefined : byId.get(event.exchange_id);
      const providerId = exchange?.provider_message_ids?.[exchange.message_ids.indexOf(id)];
      const full = typeof providerId === 'string' && event.provider_message_id === undefined ? { ...event, provider_message_id: providerId } : event;
      if (seen.has(eventKey(full))) continue;
      seen.add(eventKey(full));
      added.push(full);
    }
  }
  // Stable: the document's own events first at equal times.
  return [...own, ...added].sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
}

function eventKey(event: StatusEvent): string {
  return `${event.status}\u0000${new Date(event.at).getTime()}\u0000${event.reason ?? ''}`;
}
