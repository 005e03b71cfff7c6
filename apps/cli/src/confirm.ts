import { createInterface } from 'node:readline/promises';
import { invalid } from './options.ts';

/** Where a confirmation is asked: a terminal on stdin, answered on stderr (stdout stays for output). */
export interface Prompt {
  readonly input: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly output: NodeJS.WritableStream;
}

/**
 * True when the change may go ahead: `--yes` was given, or a person at a terminal
 * answered y. Without a terminal and without `--yes` nobody can answer, so it refuses
 * (a ValidationError naming --yes) rather than guess: scripts and CI say --yes.
 */
export async function confirm(question: string, options: { readonly yes: boolean; readonly prompt: Prompt }): Promise<boolean> {
  if (options.yes) return true;
  if (options.prompt.input.isTTY !== true) {
    throw invalid('--yes', 'is needed: stdin is not a terminal, so nobody can confirm; nothing was changed (pass --yes to go ahead without asking)');
  }
  const lines = createInterface({ input: options.prompt.input, output: options.prompt.output });
  try {
    const answer = await lines.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    lines.close();
  }
}
