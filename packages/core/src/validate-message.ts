import { createAjv, toFieldProblems } from './ajv.ts';
import { ValidationError, type FieldProblem } from './errors.ts';
import { messageRequestSchema, type MessageRequest } from './message-schema.ts';
import { DEFAULT_PRIORITY } from './lanes.ts';
import { isValidE164 } from './phone.ts';

// Ajv fills defaults into the object it checks; here it must not: the caller's item
// stays as sent (the journal keeps the request as received, the Kafka rejected topic
// each item as it came). The one default, the priority, goes into the returned copy.
const validateSchema = createAjv({ useDefaults: false }).compile<MessageRequest>(messageRequestSchema);

/**
 * Checks one message request against its schema and the rules a schema cannot say
 * (a real phone number, an expiry in the future). Returns it with its defaults; the
 * input itself is left as it was. Throws
 * ValidationError with every problem found, each with its JSON-pointer path.
 */
export function validateMessageRequest(input: unknown, now: Date = new Date()): MessageRequest {
  if (!validateSchema(input)) {
    const problems = toFieldProblems(validateSchema.errors);
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
  if (message.channel === 'sms' && phone === undefined) {
    problems.push({ path: '/recipient/phone', message: 'is required for channel sms' });
  }
  if (message.channel === 'email' && message.recipient.email === undefined) {
    problems.push({ path: '/recipient/email', message: 'is required for channel email' });
  }
  if (message.expires_at !== undefined && Date.parse(message.expires_at) <= now.getTime()) {
    problems.push({ path: '/expires_at', message: 'is in the past' });
  }
  if (message.expires_at !== undefined && message.ttl !== undefined) {
    problems.push({ path: '/ttl', message: 'cannot be combined with expires_at' });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return message.priority === undefined ? { ...message, priority: DEFAULT_PRIORITY } : message;
}
