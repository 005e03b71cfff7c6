export { LaneQueue, type LaneEntry, type LaneQueueOptions } from './lanes.ts';
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
