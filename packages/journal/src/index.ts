export {
  Journal,
  type AppliedReceipts,
  type JournalOptions,
  type MessagePage,
  type MessageQuery,
  type ProviderExchange,
  type ReceiptOutcome,
  type RedriveQuery,
  type BatchRecord,
  type StatusChange,
} from './journal.ts';
export { migrateTimelines } from './migrate-timelines.ts';
export { statusChangeOperations } from './transitions.ts';
export {
  CallbackStore,
  inboundPayload,
  type CallbackAttempt,
  type CallbackRecord,
  type CallbackState,
  type RelayResult,
} from './callback-store.ts';
export {
  PreferenceStore,
  lookupKey,
  type OptOut,
  type OptOutSource,
  type PreferenceOutcome,
  type PreferenceStoreOptions,
} from './preference-store.ts';
export { InboundStore, type InboundPage, type InboundRecord } from './inbound-store.ts';
