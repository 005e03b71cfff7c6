export { QueueKeys } from './keys.ts';
export {
  ENTRY_FIELD,
  EntryFormatError,
  decodeDeadLetter,
  decodeEntry,
  decodeLegacyDelayedPayload,
  decodeStreamEntry,
  encodeDeadLetter,
  encodeEntry,
  entryMessageId,
} from './entry-codec.ts';
export { DEFAULT_GROUP, type DeadLetterInput, type DelayedMessage, type LaneEntry, type LaneQueueOptions } from './lane-options.ts';
export { LaneWriter } from './lane-writer.ts';
export { LaneReader } from './lane-reader.ts';
export { LaneStatistics } from './lane-statistics.ts';
export {
  ProviderRateLimiter,
  defaultBurst,
  type ProviderRateLimiterOptions,
  type TokenGrant,
} from './rate-limiter.ts';
export {
  IdempotencyStore,
  type IdempotencyKeyRef,
  type IdempotencyReservation,
  type IdempotencyStoreOptions,
} from './idempotency-store.ts';
export { reportRedisErrors } from './connection-errors.ts';
export { SampledDepths } from './sampled-depths.ts';
export { ReplayGuard } from './replay-guard.ts';
export { FrequencyCaps, type CapAnswer, type CapCheck, type FrequencyCapsOptions } from './frequency-caps.ts';
export { ParkedReceipts, type ParkedReceipt } from './parked-receipts.ts';
export { DeadLetterStream, isStreamEntryId, type DeadLetterEntry, type DeadLetterPage } from './dead-letters.ts';
export {
  QueueInspector,
  DUE_BUCKETS,
  type ConsumerReport,
  type DelayedReport,
  type DueBucket,
  type LaneReport,
  type TokenBucketReport,
} from './queue-inspector.ts';
export { ReplicaHeartbeats, type ReplicaCircuit, type ReplicaReport, type ReplicaState } from './replica-heartbeats.ts';
export { DeliverySpeeds, type DeliverySample, type DeliverySpeedsOptions, type ProviderDeliveries } from './delivery-speeds.ts';
