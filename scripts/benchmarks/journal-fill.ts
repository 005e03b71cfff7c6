// Fills a journal of the run with N messages the way intake journals them — one
// `Journal.recordAccepted` per request of 1 000, a few requests in flight — but with the
// current states a journal of some weeks holds: most messages `sent` with a provider id
// and a four-event timeline, some `queued`, `failed` and `scheduled`. The Message objects
// are made by core's validateMessageRequest + acceptMessage and then given the state a
// dispatch would have written: this is a fill, not a dispatch.
import {
  acceptMessage,
  newId,
  validateMessageRequest,
  type Message,
  type MessageStatus,
  type Priority,
  type StatusEvent,
} from '@commstrat/core';
import type { Journal, BatchRecord } from '@commstrat/journal';
import { CpuMeter, type CpuReport } from './cpu-usage.ts';
import { formatCount, progress } from './progress.ts';

/** The tenant the reads are made as, and a second one, so that every query's tenant filter matters. */
export const BENCH_TENANT = 'bench';
export const OTHER_TENANT = 'other';
/** Share of the requests that belong to the other tenant. */
const OTHER_TENANT_SHARE = 0.2;
/** The journal covers this many days, oldest first: ids are ULIDs, so a time range is an id range. */
export const JOURNAL_DAYS = 30;
/** Campaign tags: one of these on every message, so `?tag=` selects about 1 in CAMPAIGNS. */
export const CAMPAIGNS = 20;
/** Current states, cumulative shares (the rest is `scheduled`). */
const STATUS_MIX: readonly [MessageStatus, number][] = [
  ['sent', 0.88],
  ['queued', 0.93],
  ['failed', 0.97],
];

export interface FillOptions {
  readonly messages: number;
  readonly messagesPerRequest: number;
  readonly requestsInFlight: number;
  /** Processes to meter over the fill (the MongoDB server). */
  readonly pids: Readonly<Record<string, number | undefined>>;
}

export interface FillResult {
  readonly messages: number;
  readonly requests: number;
  readonly seconds: number;
  readonly messagesPerSecond: number;
  /** Messages by tenant and by current status. */
  readonly byTenant: Readonly<Record<string, number>>;
  readonly byStatus: Readonly<Record<string, number>>;
  /** When the oldest and newest messages were made. */
  readonly from: string;
  readonly to: string;
  readonly cpu: CpuReport;
}

/** What the reads pick from: a uniform sample of the bench tenant's message ids. */
export interface FilledIds {
  readonly benchIds: string[];
}

/** mulberry32: a small seeded generator, so every run fills the same mix. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

function pickStatus(random: number): MessageStatus {
  return STATUS_MIX.find(([, upTo]) => random < upTo)?.[0] ?? 'scheduled';
}

/** The request a producer sent for message `n`: an OTP (high lane) or a promotion (bulk). */
function producerItem(n: number, random: () => number, scheduled: boolean, now: Date): Record<string, unknown> {
  const otp = random() < 0.7;
  const subscriber = String(1_000_000 + (n % 9_000_000)).padStart(7, '0');
  const priority: Priority = otp ? 'high' : 'bulk';
  return {
    channel: 'sms',
    recipient: { phone: `+7916${subscriber}` },
    content: {
      text: otp
        ? `Your code is ${String(1000 + (n % 9000))}. Do not share it with anyone.`
        : `Winter sale: -20% on everything until Sunday. Reply STOP to opt out (${String(n % 1000)}).`,
    },
    priority,
    tags: [otp ? 'otp' : 'promo', `campaign-${String(Math.floor(random() * CAMPAIGNS)).padStart(2, '0')}`],
    ...(scheduled ? { send_at: new Date(now.getTime() + 86_400_000 + (n % 3600) * 1000).toISOString() } : {}),
  };
}

/** The state a dispatch would have left the accepted message in. */
function withState(message: Message, status: MessageStatus, n: number, at: Date, exchange: string): Message {
  if (status === 'queued' || status === 'scheduled') return message;
  const sendingAt = new Date(at.getTime() + 40);
  const endedAt = new Date(at.getTime() + 180);
  const routed = { provider: 'sandbox-sms', strategy: 'sms-default', strategy_version: 3 };
  const providerMessageId = `sbx-${n.toString(36)}-${message.id.slice(-8)}`;
  const sending: StatusEvent = { status: 'sending', at: sendingAt, exchange_id: exchange, ...routed };
  const last: StatusEvent =
    status === 'sent'
      ? { status, at: endedAt, provider: routed.provider, provider_message_id: providerMessageId, exchange_id: exchange }
      : { status, at: endedAt, provider: routed.provider, reason: 'provider rejected: 21614 not a mobile number', exchange_id: exchange };
  return {
    ...message,
    ...routed,
    status,
    timeline: [...message.timeline, sending, last],
    updated_at: endedAt,
    ...(status === 'sent' ? { provider_message_id: providerMessageId } : {}),
  };
}

/** Request `r` of the fill, with its messages, made as intake makes them. */
function buildRequest(
  r: number,
  options: FillOptions,
  start: number,
  step: number,
  random: () => number,
): { record: BatchRecord; messages: Message[] } {
  const tenantId = random() < OTHER_TENANT_SHARE ? OTHER_TENANT : BENCH_TENANT;
  const at = new Date(start + r * step);
  const requestId = newId(at.getTime());
  const size = Math.min(options.messagesPerRequest, options.messages - r * options.messagesPerRequest);
  const items: Record<string, unknown>[] = [];
  const messages: Message[] = [];
  for (let i = 0; i < size; i += 1) {
    const n = r * options.messagesPerRequest + i;
    const status = pickStatus(random());
    const item = producerItem(n, random, status === 'scheduled', new Date());
    items.push(item);
    // Validated against the real clock: a scheduled message's send_at is in the future.
    const accepted = acceptMessage(validateMessageRequest(item), {
      id: newId(at.getTime()),
      tenantId,
      batchId: requestId,
      now: at,
    });
    // One provider exchange per 100 messages, as the sandbox's batches are.
    const exchange = `${requestId.slice(0, 20)}${String(Math.floor(i / 100)).padStart(6, '0')}`;
    messages.push(withState(accepted, status, n, at, exchange));
  }
  const record: BatchRecord = {
    _id: requestId,
    tenant_id: tenantId,
    source: 'rest',
    received_at: at,
    body: { messages: items },
    message_ids: messages.map((m) => m.id),
    accepted_indexes: messages.map((_, i) => i),
    // Long since enqueued: ingest's recovery pass must find nothing to do in this journal.
    enqueued: true,
    rejected: [],
  };
  return { record, messages };
}

/** Keeps a uniform sample of at most `size` values (reservoir sampling). */
class Reservoir {
  readonly values: string[] = [];
  private seen = 0;
  private readonly size: number;
  private readonly random: () => number;
  constructor(size: number, random: () => number) {
    this.size = size;
    this.random = random;
  }
  add(value: string): void {
    this.seen += 1;
    if (this.values.length < this.size) this.values.push(value);
    else {
      const slot = Math.floor(this.random() * this.seen);
      if (slot < this.size) this.values[slot] = value;
    }
  }
}

export async function fillJournal(journal: Journal, options: FillOptions): Promise<{ result: FillResult; ids: FilledIds }> {
  const random = seededRandom(9);
  const requests = Math.ceil(options.messages / options.messagesPerRequest);
  const end = Date.now() - 60_000;
  const start = end - JOURNAL_DAYS * 86_400_000;
  const step = (end - start) / Math.max(1, requests);
  const byTenant: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  const sample = new Reservoir(20_000, seededRandom(11));
  let next = 0;
  let written = 0;
  const meter = new CpuMeter(options.pids);
  const began = performance.now();
  let reported = began;
  // Ids must be made in time order (ULIDs from one monotonic source), so requests are
  // built in order by one loop and only their writes overlap.
  const worker = async () => {
    while (next < requests) {
      const { record, messages } = buildRequest(next, options, start, step, random);
      next += 1;
      if (!(await journal.recordAccepted(record, messages))) throw new Error(`request ${record._id} was journaled twice`);
      written += messages.length;
      byTenant[record.tenant_id] = (byTenant[record.tenant_id] ?? 0) + messages.length;
      for (const message of messages) {
        byStatus[message.status] = (byStatus[message.status] ?? 0) + 1;
        if (message.tenant_id === BENCH_TENANT) sample.add(message.id);
      }
      const now = performance.now();
      if (now - reported > 5000) {
        reported = now;
        progress(`fill: ${formatCount(written)} of ${formatCount(options.messages)}, ${formatCount(written / ((now - began) / 1000))} msg/s`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.requestsInFlight }, worker));
  const seconds = (performance.now() - began) / 1000;
  return {
    result: {
      messages: written,
      requests,
      seconds,
      messagesPerSecond: written / seconds,
      byTenant,
      byStatus,
      from: new Date(start).toISOString(),
      to: new Date(end).toISOString(),
      cpu: meter.read(),
    },
    ids: { benchIds: sample.values },
  };
}
