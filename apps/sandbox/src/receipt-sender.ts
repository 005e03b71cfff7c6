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
  sent = 0;
  failed = 0;

  configure(settings: ReceiptSettings | undefined): void {
    this.settings = settings;
  }

  current(): ReceiptSettings | undefined {
    return this.settings;
  }

  /** Schedules the receipts of one accepted batch, by the provider's message ids. */
  report(providerMessageIds: readonly string[]): void {
    const settings = this.settings;
    if (settings === undefined || settings.status === 'none' || providerMessageIds.length === 0) return;
    const receipts: Receipt[] = providerMessageIds.map((id) => ({
      provider_message_id: id,
      status: settings.status as Receipt['status'],
      ...(settings.status === 'undelivered' ? { error: settings.error ?? 'absent_subscriber' } : {}),
      at: new Date(Date.now() + settings.delay_ms).toISOString(),
    }));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.post(settings, receipts);
    }, settings.delay_ms);
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
    }, settings.delay_ms);
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
