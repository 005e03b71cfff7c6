import { allowedFrom, type StatusEvent } from '@commstrat/core';
import type { AnyBulkWriteOperation, Document } from 'mongodb';

/** A state change of one message, appended to its timeline. */
export interface StatusChange {
  readonly messageId: string;
  readonly event: StatusEvent;
}

/** Messages that go through the same events, in order: one conditional update. */
export interface Transition {
  readonly ids: string[];
  readonly events: readonly StatusEvent[];
}

/**
 * Groups status changes by each message's sequence of events, so the messages of a batch
 * that went through the same events (its `sending`, then `sent`) are one update, not one
 * per message. Messages of one batch share their event objects, so each object's key is
 * built once (a JSON.stringify per change was 8 % of a busy dispatcher's CPU).
 */
export function groupTransitions(changes: readonly StatusChange[]): Transition[] {
  const keys = new Map<StatusEvent, string>();
  const sequences = new Map<string, { events: StatusEvent[]; key: string }>();
  for (const { messageId, event } of changes) {
    let key = keys.get(event);
    if (key === undefined) {
      key = [
        event.status,
        event.at.getTime(),
        event.reason,
        event.provider,
        event.provider_message_id,
        event.exchange_id,
        event.strategy,
        event.strategy_version,
        event.step,
      ].join('\u0000');
      keys.set(event, key);
    }
    const sequence = sequences.get(messageId);
    if (sequence === undefined) sequences.set(messageId, { events: [event], key });
    else {
      sequence.events.push(event);
      sequence.key += `\u0001${key}`;
    }
  }
  const transitions = new Map<string, Transition>();
  for (const [messageId, { events, key }] of sequences) {
    let transition = transitions.get(key);
    if (transition === undefined) {
      transition = { ids: [], events };
      transitions.set(key, transition);
    }
    transition.ids.push(messageId);
  }
  return [...transitions.values()];
}

/** An exchange's provider ids, parallel to its message ids (null: not accepted). */
export interface ExchangeIds {
  readonly message_ids: readonly string[];
  readonly provider_message_ids?: readonly (string | null)[] | undefined;
}

/**
 * The conditional update that applies a transition: the filter names the states its new
 * status may be reached from (allowedFrom), so a message already past them — cancelled,
 * sent, failed — is left as it is, whatever raced. The events are appended to the
 * timeline; the message's status, provider, provider message id and strategy version
 * follow them.
 *
 * When an event names the exchange that carried it and that exchange holds each
 * message's provider id, the update is a pipeline that picks each message's own id from
 * the exchange's lists: a sent batch of 100 is still one update, where setting a
 * per-message value otherwise takes one update per message (measured on SecantusDB, a
 * bulk of single-document updates wrote a third as many messages a second).
 */
export function transitionUpdate(
  transition: Transition,
  exchanges: ReadonlyMap<string, ExchangeIds>,
  now: Date,
): { filter: Document; update: Document | Document[] } {
  const { ids, events } = transition;
  const last = events.at(-1);
  if (last === undefined) throw new Error('a transition without events');
  const filter = { _id: { $in: ids }, status: { $in: [...allowedFrom(last.status)] } };
  // callback_due: the status-callback outbox flag, set in the same write as the change
  // (callback-store.ts), so no change is lost to a crash before its callback is queued.
  const fields: Record<string, unknown> = { status: last.status, updated_at: now, callback_due: true };
  for (const event of events) {
    if (event.provider !== undefined) fields['provider'] = event.provider;
    if (event.provider_message_id !== undefined) fields['provider_message_id'] = event.provider_message_id;
    if (event.strategy !== undefined) fields['strategy'] = event.strategy;
    if (event.strategy_version !== undefined) fields['strategy_version'] = event.strategy_version;
    if (event.step !== undefined) fields['step'] = event.step;
  }
  const carrier = events.find(
    (event) => event.exchange_id !== undefined && event.status === 'sent' && event.provider_message_id === undefined,
  );
  const exchange = carrier?.exchange_id === undefined ? undefined : exchanges.get(carrier.exchange_id);
  if (carrier === undefined || exchange?.provider_message_ids === undefined) {
    return { filter, update: { $set: fields, $push: { timeline: { $each: events } } } };
  }
  // This message's id, picked from the exchange's parallel lists (every message of the
  // transition is in the exchange: the `sent` event is the exchange's own).
  const providerId = {
    $arrayElemAt: [{ $literal: exchange.provider_message_ids }, { $indexOfArray: [{ $literal: exchange.message_ids }, '$_id'] }],
  };
  // Events are literals: a reason starting with `$` must not be read as a field path.
  const timeline = events.map((event) =>
    event === carrier ? { $mergeObjects: [{ $literal: event }, { provider_message_id: providerId }] } : { $literal: event },
  );
  return {
    filter,
    update: [
      {
        $set: {
          ...Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, { $literal: value }])),
          provider_message_id: providerId,
          timeline: { $concatArrays: [{ $ifNull: ['$timeline', []] }, timeline] },
        },
      },
    ],
  };
}

/**
 * The bulk write that applies `changes`: one conditional `updateMany` per transition
 * (groupTransitions, transitionUpdate), each message's provider id picked from the
 * exchange of `exchanges` its `sent` event names. What the journal sends, and what the
 * benchmark's journal ceiling sends through the driver alone.
 */
export function statusChangeOperations(
  changes: readonly StatusChange[],
  exchanges: readonly (ExchangeIds & { readonly _id: string })[],
  now: Date,
): AnyBulkWriteOperation<Document>[] {
  const byId = new Map(exchanges.map((exchange) => [exchange._id, exchange]));
  return groupTransitions(changes).map((transition) => ({ updateMany: transitionUpdate(transition, byId, now) }));
}
