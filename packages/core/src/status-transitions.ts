import { ACTIVE_STATES, type MessageStatus } from './message.ts';

/**
 * The states a message may move to `status` from: what the journal's conditional write
 * names in its filter, so a terminal state is never left and never written twice,
 * whatever races (a cancel against a send, a duplicate outcome after a reclaim).
 *
 * - `sending`, `sent` and `scheduled` may follow any state before `sent`: the events of a
 *   batch (`sending`, then its outcome) are written together, and a message reclaimed from
 *   a replica that died goes again. A message already `sent` stays `sent`: a resend after a
 *   reclaim adds no second `sent`.
 * - `cancelled` only before a dispatcher took the message (`sending` is too late).
 * - `delivered` only after `sent`: a receipt never revives a finished message.
 * - `next_step` (a cascade moves on) from any state before `sent`, when a step's attempts
 *   failed or its provider refused, and from `sent`, when its delivery receipt said
 *   undelivered or did not come in time; never from `delivered` or another end, and not
 *   twice for one step (the journal's move also names the step it leaves). After it the
 *   message is sent by its next step: `sending`, `sent`, `scheduled` follow it.
 * - `suppressed` (the recipient opted out) only before `sent`: it is decided when a
 *   message is routed, and a message a provider already took is not called back.
 * - `failed`, `expired` and `rejected` from any state that is not terminal.
 */
export function allowedFrom(status: MessageStatus): readonly MessageStatus[] {
  return FROM[status];
}

const BEFORE_SENT: readonly MessageStatus[] = ['accepted', 'queued', 'scheduled', 'sending', 'next_step'];

const FROM: Readonly<Record<MessageStatus, readonly MessageStatus[]>> = {
  accepted: [],
  queued: ['accepted', 'scheduled'],
  scheduled: BEFORE_SENT,
  sending: BEFORE_SENT,
  sent: BEFORE_SENT,
  delivered: ['sent'],
  next_step: ['accepted', 'queued', 'scheduled', 'sending', 'sent'],
  cancelled: ['accepted', 'queued', 'scheduled'],
  failed: ACTIVE_STATES,
  expired: ACTIVE_STATES,
  rejected: ACTIVE_STATES,
  suppressed: BEFORE_SENT,
};
