import { signReceiptBody, type Receipt } from '@commstrat/core';

/** Where and what the sandbox reports about the messages it accepted. */
export interface ReceiptSettings {
  /** The receipt endpoint, e.g. `http://ingest/v1/providers/<tenant>/<provider>/receipts`. */
  readonly url: string;
  /** The provider's receipt secret the requests are signed with. */
  readonly secret: string;
  /** What every receipt says; `none` sends none (a provider that never reports). */
  readonly status: 'delivered' | 'undelivered' | 'none';
  /** After how long a batch's receipts are sent, ms. */
  readonly delay_ms: number;
  /**
   * Share of the messages, 0..1, delivered late: their receipts come after `late_delay_ms`
   * instead, with that time as the delivery time. Taken exactly (every fifth message for
   * 0.2), not at random, so a test knows the share it gets. Default 0.
   */
  readonly late_share?: number;
  /** After how long a late message's receipt is sent, ms. Default 0. */
  readonly late_delay_ms?: number;
  /** The error code `undelivered` receipts carry. */
  readonly error?: string;
  /**
   * For API modes whose provider calls back with HTTP basic auth (sinch-mode.ts): the
   * user and password provisioned at the provider; without it they sign as above.
   */
  readonly basic?: { readonly username: string; readonly password: string };
}

/**
 * Sends delivery receipts for accepted messages the way aggregators do: some time after
 * the send, one signed POST per accepted batch, in commstrat's generic format. Failures
 * are counted, not retried: a provider whose receipt is lost leaves the message `sent`.
 */
export class ReceiptSender {
  private settings: ReceiptSettings | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** How far the messages so far fall short of the late share: the next is late when it reaches 1. */
  private lateDebt = 0;
  sent = 0;
  failed = 0;

  configure(settings: ReceiptSettings | undefined): void {
    this.settings = settings;
    this.lateDebt = 0;
  }

  /** Whether the next message is one of the late share. */
  private nextIsLate(settings: ReceiptSettings): boolean {
    const share = settings.late_share ?? 0;
    if (share <= 0) return false;
    this.lateDebt += share;
    if (this.lateDebt < 1 - 1e-9) return false;
    this.lateDebt -= 1;
    return true;
  }

  current(): ReceiptSettings | undefined {
    return this.settings;
  }

  /** Schedules the receipts of one accepted batch, by the provider's message ids. */
  report(providerMessageIds: readonly string[]): void {
    const settings = this.settings;
    if (settings === undefined || settings.status === 'none' || providerMessageIds.length === 0) return;
    const onTime: string[] = [];
    const late: string[] = [];
    for (const id of providerMessageIds) (this.nextIsLate(settings) ? late : onTime).push(id);
    this.schedule(settings, onTime, settings.delay_ms);
    this.schedule(settings, late, settings.late_delay_ms ?? 0);
  }

  private schedule(settings: ReceiptSettings, providerMessageIds: readonly string[], delayMs: number): void {
    if (providerMessageIds.length === 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const receipts: Receipt[] = providerMessageIds.map((id) => ({
        provider_message_id: id,
        status: settings.status as Receipt['status'],
        ...(settings.status === 'undelivered' ? { error: settings.error ?? 'absent_subscriber' } : {}),
        at: new Date().toISOString(),
      }));
      void this.post(settings, receipts);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  /**
   * Schedules receipts an API mode sends in its provider's own format (twilio-mode.ts,
   * sinch-mode.ts): `post` is called after the configured delay with the settings and
   * answers whether the receipt endpoint took them. Nothing is sent while the status is
   * `none` or nothing is configured.
   */
  later(count: number, post: (settings: ReceiptSettings) => Promise<boolean>): void {
    const settings = this.settings;
    if (settings === undefined || settings.status === 'none' || count === 0) return;
    const delayMs = this.nextIsLate(settings) ? (settings.late_delay_ms ?? 0) : settings.delay_ms;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void post(settings).then(
        (ok) => {
          if (ok) this.sent += count;
          else this.failed += count;
        },
        () => {
          this.failed += count;
        },
      );
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async post(settings: ReceiptSettings, receipts: readonly Receipt[]): Promise<void> {
    const body = JSON.stringify({ receipts });
    try {
      const response = await fetch(settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-commstrat-signature': signReceiptBody(settings.secret, body, new Date()) },
        body,
      });
      if (response.ok) this.sent += receipts.length;
      else this.failed += receipts.length;
    } catch {
      this.failed += receipts.length;
    }
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
