export type { ExchangeRecord, MessageOutcome, ProviderAdapter, SendResult } from './adapter.ts';
export { HttpSmsAdapter, type HttpSmsAdapterOptions } from './http-sms-adapter.ts';
export { SmtpAdapter, type SmtpAdapterOptions } from './smtp-adapter.ts';
export {
  WEBHOOK_SIGNATURE_HEADER,
  WebhookAdapter,
  webhookSignature,
  type WebhookAdapterOptions,
} from './webhook-adapter.ts';
export { answerExcerpt, MAX_EXCERPT_CHARS } from './answer-excerpt.ts';
export {
  STANDARD_WEBHOOK_HEADERS,
  StandardWebhookSigner,
  standardWebhookKey,
  standardWebhookSecret,
} from './standard-webhooks.ts';
export { HttpClient, RequestTimeoutError, type HttpAnswer, type HttpClientOptions } from './http-client.ts';
export {
  ERROR_CLASSES,
  parseProviderDefinition,
  providerDefinitionSchema,
  type ErrorClass,
  type ProviderDefinition,
} from './definition/definition-schema.ts';
export { DeclarativeHttpAdapter, type DeclarativeHttpAdapterOptions } from './definition/declarative-adapter.ts';
export { shippedDefinitions } from './definition/shipped.ts';
export { queryJsonPath } from './definition/json-path.ts';
export { renderTemplate } from './definition/template.ts';
export {
  ProviderMisconfiguredError,
  RequestAuthenticator,
  authDefinitionSchema,
  hmacSignature,
  jwtAssertion,
  type AuthDefinition,
} from './definition/auth.ts';
// Receipt mapping: providers' own delivery reports (docs/providers.md, "Receipt mapping").
export { RECEIPT_AUTH_TYPES, type ReceiptAuthType, type ReceiptMapping } from './definition/receipt-schema.ts';
export {
  checkBasicAuth,
  checkTwilioSignature,
  mapProviderReceipts,
  parseReceiptBody,
  twilioSignature,
  type MappedReceipts,
} from './definition/receipt-mapping.ts';
