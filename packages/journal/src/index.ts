export {
  Journal,
  type JournalOptions,
  type MessagePage,
  type MessageQuery,
  type ProviderExchange,
  type ReceiptOutcome,
  type RedriveQuery,
  type RequestRecord,
  type StatusChange,
} from './journal.ts';
export { migrateTimelines } from './migrate-timelines.ts';
