export {
  Journal,
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
export {
  CallbackStore,
  type CallbackAttempt,
  type CallbackRecord,
  type CallbackState,
  type RelayResult,
} from './callback-store.ts';
