export {
  Journal,
  type MessagePage,
  type MessageQuery,
  type ProviderExchange,
  type RequestRecord,
  type StatusChange,
} from './journal.ts';
