// Reading what the stack's Mailpit received, through its HTTP API. Tests share the one
// server and keep apart by a random recipient address per test.
import { eventually, uniqueName } from './harness.ts';

export interface MailpitEnv {
  /** smtp://127.0.0.1:<port> */
  readonly smtpUrl: string;
  /** http://127.0.0.1:<port> */
  readonly apiUrl: string;
}

/** Mailpit's addresses as `scripts/stack env` exports them. */
export function mailpitEnv(): MailpitEnv {
  const smtpUrl = process.env['COMMSTRAT_SMTP_URL'];
  const apiUrl = process.env['COMMSTRAT_MAILPIT_URL'];
  if (smtpUrl === undefined || apiUrl === undefined || smtpUrl === '' || apiUrl === '') {
    throw new Error(
      'COMMSTRAT_SMTP_URL / COMMSTRAT_MAILPIT_URL are not set: run the tests with `npm test`, which starts the stack',
    );
  }
  return { smtpUrl, apiUrl };
}

/** A recipient address no other test uses. */
export function uniqueAddress(): string {
  return `${uniqueName('to')}@example.test`;
}

interface Address {
  readonly Name: string;
  readonly Address: string;
}

/** One message as Mailpit's API shows it (GET /api/v1/message/{ID}). */
export interface MailpitMessage {
  readonly ID: string;
  readonly MessageID: string;
  readonly From: Address;
  readonly To: readonly Address[];
  readonly Subject: string;
  readonly Text: string;
  readonly HTML: string;
}

async function getJson(path: string): Promise<unknown> {
  const response = await fetch(`${mailpitEnv().apiUrl}${path}`);
  if (!response.ok)
    throw new Error(`Mailpit ${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** The messages Mailpit got for `to`, once there are `count` of them. */
export async function messagesTo(
  to: string,
  count = 1,
  timeoutMs = 15_000,
): Promise<MailpitMessage[]> {
  const summaries = await eventually(
    `${count} e-mail(s) to ${to} in Mailpit`,
    async () => {
      const found = (await getJson(`/api/v1/search?query=${encodeURIComponent(`to:"${to}"`)}`)) as {
        messages: { ID: string }[];
      };
      return found.messages.length >= count ? found.messages : undefined;
    },
    timeoutMs,
  );
  return Promise.all(
    summaries.map(async ({ ID }) => (await getJson(`/api/v1/message/${ID}`)) as MailpitMessage),
  );
}

/** The headers of one message, each with all its values. */
export async function headersOf(id: string): Promise<Record<string, string[]>> {
  return (await getJson(`/api/v1/message/${id}/headers`)) as Record<string, string[]>;
}
