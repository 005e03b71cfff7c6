/** One SMS the sandbox accepted, as it arrived. */
export interface ReceivedSms {
  readonly message_id: string;
  readonly client_ref: string | undefined;
  readonly to: string;
  readonly text: string;
  readonly sender: string | undefined;
  /** ms since epoch, when the request carrying it arrived. */
  readonly received_at: number;
  /** Which request (batch) it came in. */
  readonly request_seq: number;
}

/**
 * Keeps what the sandbox received, for tests and the demo to inspect: the newest
 * `capacity` messages in a ring, so adding costs the same when full and reading the
 * newest few copies only those (a benchmark polls them while 100 000s arrive).
 */
export class ReceivedStore {
  private readonly ring: (ReceivedSms | undefined)[];
  /** Where the oldest kept message is. */
  private start = 0;
  private count = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a whole number >= 1, got ${capacity}`);
    this.ring = new Array<ReceivedSms | undefined>(capacity);
  }

  add(batch: readonly ReceivedSms[]): void {
    const capacity = this.ring.length;
    for (const sms of batch) {
      this.ring[(this.start + this.count) % capacity] = sms;
      if (this.count < capacity) this.count += 1;
      else this.start = (this.start + 1) % capacity;
    }
  }

  /** Every kept message that matches, oldest first. */
  list(filter: { clientRef?: string | undefined; to?: string | undefined }): ReceivedSms[] {
    const found: ReceivedSms[] = [];
    for (let i = 0; i < this.count; i++) {
      const item = this.at(i);
      if ((filter.clientRef === undefined || item.client_ref === filter.clientRef) && (filter.to === undefined || item.to === filter.to)) {
        found.push(item);
      }
    }
    return found;
  }

  /** The newest `limit` messages, oldest first. */
  latest(limit: number): ReceivedSms[] {
    const from = Math.max(0, this.count - limit);
    return Array.from({ length: this.count - from }, (_, i) => this.at(from + i));
  }

  /** Up to `limit` kept messages from the `offset`-th oldest on, oldest first (paging). */
  slice(offset: number, limit: number): ReceivedSms[] {
    const from = Math.min(Math.max(0, offset), this.count);
    const to = Math.min(this.count, from + Math.max(0, limit));
    return Array.from({ length: to - from }, (_, i) => this.at(from + i));
  }

  clear(): void {
    this.ring.fill(undefined);
    this.start = 0;
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }

  /** The i-th kept message, 0 = oldest. */
  private at(i: number): ReceivedSms {
    const item = this.ring[(this.start + i) % this.ring.length];
    if (item === undefined) throw new Error(`no received message at ${i} of ${this.count}`);
    return item;
  }
}
