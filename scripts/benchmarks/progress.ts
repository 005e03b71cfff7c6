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
