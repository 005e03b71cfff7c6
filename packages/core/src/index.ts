export { PRIORITIES, DEFAULT_PRIORITY, DEFAULT_REDIS_PREFIX, type Priority } from './lanes.ts';
export {
  ERROR_CODES,
  BatchRejectedError,
  BatchTooLargeError,
  CommstratError,
  ConfigError,
  ConflictError,
  LanesFullError,
  RateLimitedError,
  DependencyUnavailableError,
  EgressRefusedError,
  InputNotStorableError,
  InvalidEncodingError,
  MalformedJsonError,
  MethodNotAllowedError,
  NestingTooDeepError,
  ForbiddenError,
  CsrfError,
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
  CATEGORY_PATTERN,
  E164_PATTERN,
  STRATEGY_NAME_PATTERN,
  documentedMessageRequestSchema,
  messageContentSchema,
  messageRequestSchema,
  type Channel,
  type MessageRequest,
} from './message-schema.ts';
export {
  ACTIVE_STATES,
  TERMINAL_STATES,
  toQueuedMessage,
  type ContentByChannel,
  type Message,
  type RenderedStep,
  type MessageStatus,
  type QueuedMessage,
  type QueuedRenderedStep,
  type StatusEvent,
} from './message.ts';
export { allowedFrom } from './status-transitions.ts';
export { validateMessageRequest } from './validate-message.ts';
export { canonicalLocale } from './locale.ts';
export { DEFAULT_MAX_JSON_DEPTH, nestingDepth, parseJsonInput, type JsonInputLimits } from './json-input.ts';
export { createAjv, toFieldProblems } from './ajv.ts';
export { batchEnvelopeSchema, parseBatchEnvelope } from './batch-envelope.ts';
export { acceptMessage, type AcceptContext, type RenderedTemplates } from './accept-message.ts';
export { parseAppConfig, tierConfigSchema, tierEnvMap, type EnvMap, type TierConfig } from './app-config.ts';
export { firstIdAt, newId } from './ids.ts';
export { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './retry.ts';
export {
  DEFAULT_LANE_WEIGHTS,
  INITIAL_LANE_SELECTION_STATE,
  SHARED_LANES,
  selectLanes,
  type LaneCounts,
  type LaneSelection,
  type LaneSelectionInput,
  type LaneSelectionState,
  type LaneWeights,
  type SharedLane,
} from './lane-selection.ts';
export {
  isInsideWindow,
  isKnownTimeZone,
  nextWindowOpening,
  windowTimeZone,
  type SendWindow,
} from './send-window.ts';
export { jsonDiff, type JsonChange } from './json-diff.ts';
export {
  ROUTE_MODES,
  chooseProvider,
  effectiveRoute,
  matchesRecipient,
  nextProvider,
  routeProviderRefs,
  routeProviders,
  type FailoverRoute,
  type LeafRoute,
  type LeastCostRoute,
  type PriceTable,
  type ProviderChoiceContext,
  type Route,
  type RouteMatch,
  type RouteMode,
  type RouteRecipient,
  type RouteRule,
  type RulesRoute,
  type WeightedProvider,
  type WeightedRoute,
} from './route.ts';
export {
  DEFAULT_PROVIDER_HEALTH_OPTIONS,
  NO_ERROR_STATS,
  errorRatio,
  providerHealthWeight,
  recordRequest,
  type ErrorStats,
  type ProviderHealthInput,
  type ProviderHealthOptions,
} from './provider-health.ts';
export {
  MAX_STRATEGY_STEPS,
  stepRetryPolicy,
  strategySchema,
  validateStrategy,
  type StepAdvance,
  type StepContactPolicy,
  type Strategy,
  type StrategyRetry,
  type StrategyStep,
} from './strategy.ts';
export {
  advanceReason,
  currentStepIndex,
  messageForStep,
  nextStepIndex,
  receiptDeadline,
  stepChannel,
  stepContent,
  timerVerdict,
  type AdvanceCause,
  type TimerVerdict,
} from './cascade.ts';
export {
  CLOSED_CIRCUIT,
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
  canSend,
  circuitStatus,
  recordFailure,
  recordSend,
  recordSuccess,
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitStatus,
} from './circuit-breaker.ts';
export { isValidE164, phoneCountry } from './phone.ts';
export {
  MAX_RECEIPTS_PER_REQUEST,
  checkReceiptSignature,
  parseReceipts,
  receiptBatchSchema,
  signReceiptBody,
  type Receipt,
  type SignatureProblem,
} from './receipts.ts';
export { SMS_ENCODINGS, smsEncoding, type SmsEncoding, type SmsEncodingInfo } from './sms-encoding.ts';
export {
  DEFAULT_EXEMPT_PRIORITIES,
  MAX_CAP,
  OPTED_OUT_REASON,
  applicableCaps,
  capKey,
  contactAddress,
  contactPolicySchema,
  isExempt,
  overCapVerdict,
  parseStopListAddress,
  screenRecipient,
  stopListKey,
  type AddressKind,
  type CapVerdict,
  type ContactAddress,
  type ContactPolicy,
  type FrequencyCap,
  type ScreenVerdict,
} from './contact-policy.ts';
export {
  DEFAULT_CALLBACK_RETRY_POLICY,
  callbackPayloads,
  nextCallbackAttempt,
  type CallbackPayload,
  type CallbackRetryPolicy,
  type CallbackSource,
} from './status-callbacks.ts';
export {
  afterFailedAttempt,
  afterStepFailure,
  claimedStep,
  decideClaimed,
  expiryOf,
  reclaimVerdict,
  stepCaps,
  stepProviders,
  storeOutageVerdict,
  throttleDelayMs,
  timeVerdict,
  verdictsFor,
  type AnsweredMessage,
  type ClaimedInput,
  type DeadLetterNote,
  type DeferCause,
  type ProviderAnswer,
  type ProviderView,
  type ReclaimVerdict,
  type Verdict,
} from './dispatch-decisions.ts';
