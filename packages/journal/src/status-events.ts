import type { StatusEvent } from '@commstrat/core';

/** A state change of one message, appended to its timeline. */
export interface StatusChange {
  readonly messageId: string;
  readonly event: StatusEvent;
}

/** Status events that some messages went through alike, in order: one journal document. */
export interface EventRun {
  readonly message_ids: string[];
  readonly events: readonly StatusEvent[];
}

interface Sequence {
  readonly events: StatusEvent[];
  /** One key per event, naming every field of it. */
  readonly keys: string[];
}

/**
 * Each message's events in the order given. Messages of one batch share their event
 * objects, so each object's key is built once (JSON.stringify here was 8 % of a busy
 * dispatcher's CPU).
 */
function sequencesByMessage(changes: readonly StatusChange[]): Map<string, Sequence> {
  const keys = new Map<StatusEvent, string>();
  const sequences = new Map<string, Sequence>();
  for (const { messageId, event } of changes) {
    let key = keys.get(event);
    if (key === undefined) {
      key = [event.status, event.at.getTime(), event.reason, event.provider, event.provider_message_id, event.exchange_id].join('\u0000');
      keys.set(event, key);
    }
    const sequence = sequences.get(messageId);
    if (sequence === undefined) sequences.set(messageId, { events: [event], keys: [key] });
    else {
      sequence.events.push(event);
      sequence.keys.push(key);
    }
  }
  return sequences;
}

/** How many first events every sequence shares (0 when one of them is missing). */
function commonPrefixLength(sequences: readonly (Sequence | undefined)[]): number {
  const [first, ...others] = sequences;
  if (first === undefined) return 0;
  let length = first.keys.length;
  for (const other of others) {
    if (other === undefined) return 0;
    length = Math.min(length, other.keys.length);
    let same = 0;
    while (same < length && other.keys[same] === first.keys[same]) same += 1;
    length = same;
    if (length === 0) return 0;
  }
  return length;
}

/** Messages grouped by identical event sequence: one run per distinct sequence. */
function groupRuns(sequences: ReadonlyMap<string, Sequence>, from: ReadonlyMap<string, number>): EventRun[] {
  const runs = new Map<string, EventRun>();
  for (const [messageId, { events, keys }] of sequences) {
    const start = from.get(messageId) ?? 0;
    if (start >= events.length) continue;
    const key = keys.slice(start).join('\u0001');
    let run = runs.get(key);
    if (run === undefined) {
      run = { message_ids: [], events: events.slice(start) };
      runs.set(key, run);
    }
    run.message_ids.push(messageId);
  }
  return [...runs.values()];
}

/**
 * Places status changes where they cost the journal least. The events that every message
 * of a provider exchange went through alike (its `sending`, and `sent` when the provider
 * accepted the whole batch) are written once, in the exchange's own document, which
 * names the messages already; what remains is grouped into one run per distinct
 * sequence. A sent batch of 100 is then one document, not an exchange plus a run with a
 * second list of the same 100 ids: a third less work for FerretDB per message (measured
 * with the driver: see docs/benchmarks.md). Readers merge both back into the timeline.
 */
export function placeStatusEvents<E extends { readonly message_ids: readonly string[] }>(
  exchanges: readonly E[],
  changes: readonly StatusChange[],
): { exchanges: (E & { events?: readonly StatusEvent[] })[]; runs: EventRun[] } {
  const sequences = sequencesByMessage(changes);
  const carried = new Map<string, number>();
  const placed = exchanges.map((exchange) => {
    const shared = commonPrefixLength(exchange.message_ids.map((id) => sequences.get(id)));
    const first = sequences.get(exchange.message_ids[0] ?? '');
    if (shared === 0 || first === undefined) return exchange;
    for (const id of exchange.message_ids) carried.set(id, shared);
    return { ...exchange, events: first.events.slice(0, shared) };
  });
  return { exchanges: placed, runs: groupRuns(sequences, carried) };
}

/** A journal document that holds events of some messages: a run or an exchange. */
export interface EventSource {
  readonly _id: string;
  readonly message_ids: readonly string[];
  readonly events?: readonly StatusEvent[] | undefined;
  /** An exchange's: the provider's id of each message, parallel to `message_ids`. */
  readonly provider_message_ids?: readonly (string | null)[] | undefined;
}

/**
 * Each message's timeline: its own events (accepted, queued), then those of `sources`,
 * by time. Sources are taken in id order (ids are ULIDs: creation order), so events of
 * the same millisecond keep the order they were recorded in. An event naming the
 * exchange that carried it (`sent`) gets the provider's id of the message from that
 * exchange, when it is among the sources.
 */
export function mergeTimelines(
  own: ReadonlyMap<string, readonly StatusEvent[]>,
  sources: readonly EventSource[],
): Map<string, StatusEvent[]> {
  const later = new Map<string, StatusEvent[]>();
  for (const id of own.keys()) later.set(id, []);
  const ordered = [...sources].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
  for (const source of ordered) {
    for (const id of source.message_ids) later.get(id)?.push(...(source.events ?? []));
  }
  const byId = new Map(sources.map((source) => [source._id, source]));
  const providerId = (event: StatusEvent, messageId: string): StatusEvent => {
    if (event.exchange_id === undefined || event.provider_message_id !== undefined) return event;
    const exchange = byId.get(event.exchange_id);
    const found = exchange?.provider_message_ids?.[exchange.message_ids.indexOf(messageId)];
    return typeof found === 'string' ? { ...event, provider_message_id: found } : event;
  };
  const timelines = new Map<string, StatusEvent[]>();
  for (const [id, events] of own) {
    const added = (later.get(id) ?? []).map((event) => providerId(event, id));
    // Stable: the document's own events first at equal times.
    timelines.set(id, added.length === 0 ? [...events] : [...events, ...added].sort((a, b) => a.at.getTime() - b.at.getTime()));
  }
  return timelines;
}
