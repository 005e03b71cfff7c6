import {
  EgressRefusedError,
  ProviderRejectedError,
  ProviderUnavailableError,
  type CommstratError,
  type QueuedMessage,
} from '@commstrat/core';
import { egressConnect, type EgressPolicy } from '@commstrat/egress';
import type { Socket } from 'node:net';
import { createTransport } from 'nodemailer';
import { egressRefusal, type MessageOutcome, type ProviderAdapter, type SendResult } from './adapter.ts';
import { answerExcerpt } from './answer-excerpt.ts';

export interface SmtpAdapterOptions {
  readonly id: string;
  /** `smtp://host:port` (STARTTLS when the server offers it) or `smtps://host:port` (TLS from the start). */
  readonly url: string;
  /** The From header and envelope sender, e.g. `Acme <no-reply@acme.example>`. */
  readonly from: string;
  /** SMTP login; none when absent. */
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** Time limit of connecting, of the greeting and of each command, ms. Default 10 000. */
  readonly timeoutMs?: number | undefined;
  /** SMTP connections kept open (the provider's concurrency). Default 4. */
  readonly concurrency?: number | undefined;
  /** Checks every connection to the SMTP server, as every other outgoing connection. */
  readonly egress: EgressPolicy;
}

/** What a nodemailer error carries; the library types `code` through ErrnoException. */
interface SmtpFailure {
  readonly code?: string | undefined;
  readonly responseCode?: number | undefined;
  readonly response?: string | undefined;
  readonly permanent?: boolean | undefined;
  readonly message: string;
}

/**
 * E-mail over SMTP through a pool of kept-open connections. A batch goes message after
 * message, so it travels over one connection (a pooled connection is reused as soon as
 * it is idle); several batches in flight use several connections.
 *
 * Classification: a 5xx reply to a message (bad recipient, refused content) rejects that
 * message for good; a 4xx reply, a timeout or a lost connection is the server's trouble,
 * so the batch stops there and is reported as ProviderUnavailableError to be retried
 * whole. Messages of that batch sent before the failure are then sent again on retry,
 * with the same Message-ID (`<message id@sender domain>`), which receiving servers use
 * to drop duplicates: the adapter interface has no per-message "retry this one" outcome.
 */
export class SmtpAdapter implements ProviderAdapter {
  readonly id: string;
  private readonly from: string;
  private readonly domain: string;
  private readonly transport: ReturnType<typeof createSmtpPool>;

  constructor(options: SmtpAdapterOptions) {
    this.id = options.id;
    this.from = options.from;
    this.domain = senderDomain(options.from);
    this.transport = createSmtpPool(options);
  }

  close(): void {
    this.transport.close();
  }

  async send(messages: readonly QueuedMessage[], signal?: AbortSignal): Promise<SendResult> {
    const startedAt = new Date();
    const sent: {
      id: string;
      to: string | undefined;
      subject: string | undefined;
      response: string;
    }[] = [];
    const outcomes: MessageOutcome[] = [];
    let error: CommstratError | undefined;
    for (const message of messages) {
      const messageId = `<${message.id}@${this.domain}>`;
      try {
        signal?.throwIfAborted();
        const info = await this.transport.sendMail({
          from: this.from,
          to: message.recipient.email,
          subject: message.content.subject,
          messageId,
          headers: { 'X-Commstrat-Message-Id': message.id },
          ...(message.content.text === undefined ? {} : { text: message.content.text }),
          ...(message.content.html === undefined ? {} : { html: message.content.html }),
        });
        outcomes.push({
          messageId: message.id,
          outcome: 'accepted',
          providerMessageId: info.messageId,
        });
        sent.push({
          id: message.id,
          to: message.recipient.email,
          subject: message.content.subject,
          response: info.response,
        });
      } catch (cause) {
        if (cause instanceof EgressRefusedError) {
          const refused = egressRefusal(this.id, cause);
          sent.push({ id: message.id, to: message.recipient.email, subject: message.content.subject, response: refused.response });
          error = refused.error;
          break;
        }
        const failure = asFailure(cause);
        const reply = failure.response ?? failure.message;
        sent.push({
          id: message.id,
          to: message.recipient.email,
          subject: message.content.subject,
          response: reply,
        });
        if (isMessageRefusal(failure)) {
          outcomes.push({
            messageId: message.id,
            outcome: 'rejected',
            reason: `smtp_${failure.responseCode ?? 'rejected'}: ${answerExcerpt(reply)}`,
          });
          continue;
        }
        error = classifyTransient(this.id, failure, cause);
        break;
      }
    }
    const exchange = {
      // The envelopes and the server's replies, not the MIME bodies: those stay in the
      // message journal already, and a journal copy of every HTML body would double it.
      request: JSON.stringify(sent.map(({ id, to, subject }) => ({ message_id: id, to, subject }))),
      response: JSON.stringify(sent.map(({ id, response }) => ({ message_id: id, response }))),
      httpStatus: undefined,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
    };
    return error === undefined ? { exchange, outcomes } : { exchange, outcomes: [], error };
  }
}

function createSmtpPool(options: SmtpAdapterOptions) {
  const url = new URL(options.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const host = url.hostname;
  const port = Number(url.port || (url.protocol === 'smtps:' ? 465 : 587));
  return createTransport({
    pool: true,
    host,
    port,
    // Every connection is made by the egress policy, to an address it checked; the
    // library then speaks SMTP (and TLS, verifying `host`) over it.
    getSocket: (_options: unknown, callback: (error: Error | null, socketOptions?: { connection: Socket }) => void) => {
      egressConnect(options.egress, host, port, timeoutMs).then(
        (connection) => callback(null, { connection }),
        (error: Error) => callback(error),
      );
    },
    secure: url.protocol === 'smtps:',
    ...(options.user === undefined
      ? {}
      : { auth: { user: options.user, pass: options.password ?? '' } }),
    maxConnections: options.concurrency ?? 4,
    // A connection is kept for as long as the server keeps it: reconnecting per 100
    // messages (the library's default) costs a TLS handshake for nothing.
    maxMessages: Infinity,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    // Requeued on a closed connection at most once, then it counts as a failure here.
    maxRequeues: 1,
  });
}

/** The domain of the From address, for Message-IDs; `commstrat.local` when none. */
function senderDomain(from: string): string {
  const address = /<([^>]+)>/.exec(from)?.[1] ?? from;
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(at + 1).trim() : 'commstrat.local';
}

/**
 * A refusal of this one message: a permanent reply (5xx but 503), or an envelope or
 * message nodemailer itself found wrong before sending; the same message fails again.
 */
function isMessageRefusal(failure: SmtpFailure): boolean {
  if (failure.permanent === true) return true;
  return (
    failure.responseCode === undefined &&
    (failure.code === 'EENVELOPE' || failure.code === 'EMESSAGE')
  );
}

/** nodemailer's errors are Errors with optional fields (NodemailerError) read as such. */
function asFailure(cause: unknown): SmtpFailure {
  if (cause instanceof Error) return cause;
  return { message: String(cause) };
}

/**
 * A failure that is not a permanent reply. Login refused (EAUTH) and a bad
 * configuration will fail the same way again: permanent for the batch. Everything
 * else (4xx, timeout, connection lost or refused) may pass on retry.
 */
function classifyTransient(provider: string, failure: SmtpFailure, cause: unknown): CommstratError {
  if (failure.code === 'EAUTH' || failure.code === 'ENOAUTH' || failure.code === 'ECONFIG') {
    return new ProviderRejectedError(
      `SMTP server of ${provider} refused: ${failure.message}`,
      cause,
    );
  }
  const what =
    failure.responseCode === undefined ? (failure.code ?? 'error') : String(failure.responseCode);
  return new ProviderUnavailableError(
    `SMTP server of ${provider} failed (${what}): ${failure.message}`,
    { cause },
  );
}
