export {
  Journal,
  type ProviderExchange,
  type RequestRecord,
  type StatusChange,
} from './journal.ts';
