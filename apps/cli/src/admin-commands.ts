// What the admin command groups (strategies, templates, keys, providers) share: where
// ingest is, how to ask before a change, and how to print.
import { CommstratError } from '@commstrat/core';
import type { Command } from 'commander';
import { AdminClient } from './admin-client.ts';
import { requireAdminTarget, type CliConfig } from './config.ts';
import { confirm, type Prompt } from './confirm.ts';
import { json, table } from './output.ts';

/** What an admin command needs from outside: settings, a terminal to ask, stdout. */
export interface AdminIo {
  readonly config: CliConfig;
  readonly prompt: Prompt;
  readonly out: (text: string) => void;
}

interface TargetFlags {
  readonly ingestUrl?: string;
  readonly adminKey?: string;
}

/** A command group whose subcommands call ingest's admin API; the flags are read before or after the subcommand. */
export function adminGroup(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option('--ingest-url <url>', 'ingest\'s base URL (default: COMMSTRAT_INGEST_URL, else http://127.0.0.1:8080)')
    .option('--admin-key <key>', 'an API key with the admin scope (default: COMMSTRAT_ADMIN_KEY; a flag shows in the process list, the variable does not)');
}

/** Runs an admin subcommand with its client; the exit code is what `body` answers. */
export async function runAdmin(io: AdminIo, command: Command, body: (client: AdminClient) => Promise<number>): Promise<void> {
  const client = new AdminClient(requireAdminTarget(io.config, command.optsWithGlobals<TargetFlags>()));
  process.exitCode = await body(client);
}

/** `--json`: one JSON document for scripts; otherwise the text for people. */
export function emit(io: AdminIo, asJson: boolean | undefined, value: unknown, human: () => string): void {
  io.out(asJson === true ? json(value) : human());
}

/** `list`: every item as a table for people, `{ [key]: items }` for scripts. */
export function listCommand<T>(
  group: Command,
  io: AdminIo,
  spec: {
    readonly description: string;
    readonly key: string;
    readonly load: (client: AdminClient) => Promise<readonly T[]>;
    readonly columns: readonly string[];
    readonly row: (item: T) => readonly unknown[];
  },
): void {
  group
    .command('list')
    .description(spec.description)
    .option('--json', 'print JSON for scripts')
    .action(async (options: { json?: boolean }, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const items = await spec.load(client);
        emit(io, options.json, { [spec.key]: items }, () => table(spec.columns, items.map(spec.row)));
        return 0;
      });
    });
}

/** Asks `question` (unless `yes`), then saves and prints the line `save` answers. The exit code: 1 when not confirmed. */
export async function saveIfConfirmed(io: AdminIo, question: string, yes: boolean, save: () => Promise<string>): Promise<number> {
  if (!(await confirm(question, { yes, prompt: io.prompt }))) {
    io.out('not confirmed: nothing saved');
    return 1;
  }
  io.out(await save());
  return 0;
}

/** Thrown when a strategy or template version, key or provider the command names does not exist; says where to look. */
export class NotThereError extends CommstratError {
  constructor(what: string, listCommand: string) {
    super('not_found', `${what} not found: \`${listCommand}\` shows what there is`);
  }
}
