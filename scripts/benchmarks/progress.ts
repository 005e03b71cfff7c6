// Progress goes to stderr, so stdout carries only the results table.
export function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `12345.6` → `12 346`: thin groups keep figures readable in tables and progress lines. */
export function formatCount(value: number, digits = 0): string {
  return value
    .toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    .replaceAll(',', ' ');
}

/** A wrong command-line option: its message, with the usage, is all the user is shown. */
export class UsageError extends Error {}

/** The reader of a benchmark's positive whole-number options (`--clients 4`); a UsageError naming the option otherwise. */
export function positiveIntegers<Name extends string>(values: Readonly<Record<Name, unknown>>, usage: string): (name: Name) => number {
  return (name) => {
    const text = String(values[name]);
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a positive integer, got ${text}\n${usage}`);
    return value;
  };
}

/** Runs a benchmark's main: a UsageError shows its message, any other error its stack; either exits 1. */
export function runBenchmark(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof UsageError) progress(error.message);
    else progress(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  });
}
