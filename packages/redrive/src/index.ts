export { Redriver, redriveMessage, REDRIVABLE, type RedriveOptions, type RedriveOutcome } from './redriver.ts';
export { replayDeadLetters, selectsDeadLetter, type DeadLetterItem, type ReplayDlqOptions, type ReplaySummary } from './replay-dlq.ts';
export { finalReason, redriveFromJournal, type RedriveItem, type RedriveJournalOptions, type RedriveSummary } from './redrive-journal.ts';
export { RunPacer, Tally, type RunProgress, type RunSummary } from './run-pacer.ts';
