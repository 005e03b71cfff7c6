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

/** Keeps what the sandbox received, for tests and the demo to inspect. Bounded. */
export class ReceivedStore {
  private items: ReceivedSms[] = [];
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  add(batch: readonly ReceivedSms[]): void {
    this.items.push(...batch);
    if (this.items.length > this.capacity) this.items = this.items.slice(-this.capacity);
  }

  list(filter: { clientRef?: string | undefined; to?: string | undefined }): ReceivedSms[] {
    return this.items.filter(
      (item) =>
        (filter.clientRef === undefined || item.client_ref === filter.clientRef) &&
        (filter.to === undefined || item.to === filter.to),
    );
  }

  clear(): void {
    this.items = [];
  }

  get size(): number {
    return this.items.length;
  }
}
