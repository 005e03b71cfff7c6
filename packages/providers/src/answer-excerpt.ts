import { createMasker } from '@commstrat/observability';

/** Longest excerpt of an answer body that goes into an error, a reason or a timeline. */
export const MAX_EXCERPT_CHARS = 300;
/** Bodies up to this size are masked as JSON, field by field; larger ones as free text. */
const MAX_PARSED_CHARS = 64 * 1024;

// The log defaults: phone numbers and e-mail addresses partly shown, message text as its
// length only, credentials (tokens, keys, passwords, Authorization) hidden.
const mask = createMasker();

/**
 * What of a provider's or receiver's answer body may be copied into a message's timeline,
 * an error message or a dead letter: masked like a log line (a provider echoing the
 * recipient, the text or a token shows none of them), then cut to `maxChars` with `…`.
 * The provider exchange journal keeps the answer itself.
 */
export function answerExcerpt(body: string, maxChars: number = MAX_EXCERPT_CHARS): string {
  const source = body.length <= MAX_PARSED_CHARS ? body : body.slice(0, maxChars * 2);
  const masked = mask(source);
  const text = typeof masked === 'string' ? masked : JSON.stringify(masked);
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}…`;
}
