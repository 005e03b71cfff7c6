export {
  Journal,
  type JournalOptions,
  type MessagePage,
  type MessageQuery,
  type ProviderExchange,
  type RequestRecord,
  type StatusChange,
} from './journal.ts';
export { migrateTimelines } from './migrate-timelines.ts';
