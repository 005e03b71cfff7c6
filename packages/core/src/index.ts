export { PRIORITIES, DEFAULT_PRIORITY, isPriority, type Priority } from './lanes.ts';
export {
  ERROR_CODES,
  CommstratError,
  ConfigError,
  DependencyUnavailableError,
  MalformedJsonError,
  NotFoundError,
  PayloadTooLargeError,
  ProviderRejectedError,
  ProviderUnavailableError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
  type ErrorCode,
  type FieldProblem,
} from './errors.ts';
export {
  CHANNELS,
  messageRequestSchema,
  type Channel,
  type MessageRequest,
} from './message-schema.ts';
export {
  ACTIVE_STATES,
  TERMINAL_STATES,
  isTerminal,
  toQueuedMessage,
  type Message,
  type MessageStatus,
  type QueuedMessage,
  type StatusEvent,
} from './message.ts';
export { validateMessageRequest } from './validate-message.ts';
export { acceptMessage, type AcceptContext } from './accept-message.ts';
export { parseAppConfig, type EnvMap } from './app-config.ts';
export { newId } from './ids.ts';
export { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './retry.ts';
