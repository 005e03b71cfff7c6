import { createAjv, toFieldProblems } from './ajv.ts';
import { ValidationError, type FieldProblem } from './errors.ts';
import { CATEGORY_PATTERN, messageRequestSchema, type MessageRequest } from './message-schema.ts';
import { DEFAULT_PRIORITY } from './lanes.ts';
import { canonicalLocale } from './locale.ts';
import { isValidE164 } from './phone.ts';
import { isKnownTimeZone } from './send-window.ts';

// Ajv fills defaults into the object it checks; here it must not: the caller's item
// stays as sent (the journal keeps the request as received, the Kafka rejected topic
// each item as it came). The one default, the priority, goes into the returned copy.
const validateSchema = createAjv({ useDefaults: false }).compile<MessageRequest>(messageRequestSchema);

const CATEGORY_MESSAGE = 'must be 1-40 lower-case letters, digits, "_" or "-", starting with a letter (e.g. "marketing")';

/**
 * Checks one message request against its schema and the rules a schema cannot say
 * (a real phone number, an expiry in the future and after send_at). Returns it with its defaults; the
 * input itself is left as it was. Throws
 * ValidationError with every problem found, each with its JSON-pointer path.
 */
export function validateMessageRequest(input: unknown, now: Date = new Date()): MessageRequest {
  if (!validateSchema(input)) {
    const problems = toFieldProblems(validateSchema.errors).map((problem) =>
      problem.path === '/category' && problem.message.includes(CATEGORY_PATTERN) ? { ...problem, message: CATEGORY_MESSAGE } : problem,
    );
    const missingRoute = validateSchema.errors?.some((e) => e.keyword === 'anyOf' && e.instancePath === '');
    if (missingRoute) {
      problems.unshift({ path: '/channel', message: 'either channel or strategy is required' });
    }
    throw new ValidationError(problems);
  }
  const message = input;
  const problems: FieldProblem[] = [];
  const phone = message.recipient.phone;
  if (phone !== undefined && !isValidE164(phone)) {
    throw new ValidationError(
      [{ path: '/recipient/phone', message: 'is not a valid phone number in E.164 form' }],
      'invalid_phone_number',
    );
  }
  // Checked here for every message, not only when a strategy has a send window: a zone
  // that does not exist is the producer's error, and at dispatch it could only fail.
  const zone = message.recipient.time_zone;
  if (zone !== undefined && !isKnownTimeZone(zone)) {
    problems.push({ path: '/recipient/time_zone', message: 'is not a known IANA time zone (e.g. Europe/Berlin)' });
  }
  const locale = message.recipient.locale;
  if (locale !== undefined && canonicalLocale(locale) === undefined) {
    problems.push({ path: '/recipient/locale', message: 'is not a BCP 47 language tag (e.g. "ru-RU", "en")' });
  }
  if (message.channel === 'sms' && phone === undefined) {
    problems.push({ path: '/recipient/phone', message: 'is required for channel sms' });
  }
  // The address each channel's providers send to: a device token (FCM, APNs), a chat id
  // (Telegram and other messengers).
  if (message.channel === 'push' && message.recipient.push_token === undefined) {
    problems.push({ path: '/recipient/push_token', message: 'is required for channel push' });
  }
  if (message.channel === 'messenger' && message.recipient.chat_id === undefined) {
    problems.push({ path: '/recipient/chat_id', message: 'is required for channel messenger' });
  }
  // The same rules for the content of each channel a cascade step may send on.
  for (const [channel, content] of Object.entries(message.content_by_channel ?? {})) {
    const at = `/content_by_channel/${channel}`;
    if (content.attachments !== undefined) {
      throw new ValidationError(
        [{ path: `${at}/attachments`, message: 'attachments by URL are not supported yet; send a link in the body' }],
        'attachments_not_supported',
      );
    }
    if (channel === 'email' && content.subject === undefined) {
      problems.push({ path: `${at}/subject`, message: 'is required for channel email' });
    }
    if (channel === 'email' && content.text === undefined && content.html === undefined) {
      problems.push({ path: `${at}/text`, message: 'text or html is required for channel email' });
    }
    if (channel !== 'email' && content.html !== undefined) problems.push({ path: `${at}/html`, message: 'is for channel email only' });
  }
  if (message.content.attachments !== undefined) {
    // Fetching a producer's URL from the dispatcher would let any tenant make it reach
    // internal addresses; until a provider definition says how to fetch, say no plainly.
    throw new ValidationError(
      [{ path: '/content/attachments', message: 'attachments by URL are not supported yet; send a link in the body' }],
      'attachments_not_supported',
    );
  }
  if (message.channel === 'email') {
    if (message.recipient.email === undefined) {
      problems.push({ path: '/recipient/email', message: 'is required for channel email' });
    }
    if (message.content.subject === undefined) {
      problems.push({ path: '/content/subject', message: 'is required for channel email' });
    }
    if (message.content.text === undefined && message.content.html === undefined) {
      problems.push({ path: '/content/text', message: 'text or html is required for channel email' });
    }
  } else if (message.channel !== undefined && message.content.html !== undefined) {
    problems.push({ path: '/content/html', message: 'is for channel email only' });
  }
  if (message.expires_at !== undefined && Date.parse(message.expires_at) <= now.getTime()) {
    problems.push({ path: '/expires_at', message: 'is in the past' });
  }
  // A message that expires before it may be sent can only ever expire: refuse it now.
  const sendAt = message.send_at === undefined ? undefined : Date.parse(message.send_at);
  if (sendAt !== undefined && message.expires_at !== undefined && Date.parse(message.expires_at) <= sendAt) {
    problems.push({ path: '/expires_at', message: 'must be later than send_at' });
  }
  if (sendAt !== undefined && message.ttl !== undefined && now.getTime() + message.ttl * 1000 <= sendAt) {
    problems.push({ path: '/ttl', message: 'expires at or before send_at' });
  }
  if (message.expires_at !== undefined && message.ttl !== undefined) {
    problems.push({ path: '/ttl', message: 'cannot be combined with expires_at' });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return message.priority === undefined ? { ...message, priority: DEFAULT_PRIORITY } : message;
}
