export { DispatchLifecycle, type AnsweringProvider, type DispatchLifecycleDeps, type LifecycleMetrics, type SentWork } from './dispatch-lifecycle.ts';
export { ReceiptLifecycle, type ReceiptLifecycleDeps, type ReceiptResult } from './receipts.ts';
export { Withdrawals, type WithdrawalDeps } from './withdrawals.ts';
export type { Settlement } from './settled-set.ts';
