export {
  Journal,
  type MessageQuery,
  type ProviderExchange,
  type RequestRecord,
  type StatusChange,
} from './journal.ts';
