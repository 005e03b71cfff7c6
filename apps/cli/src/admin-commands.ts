// What the admin command groups (strategies, keys, providers) share: where ingest is,
// how to ask before a change, and how to print.
import { CommstratError } from '@commstrat/core';
import type { Command } from 'commander';
import { AdminClient } from './admin-client.ts';
import { requireAdminTarget, type CliConfig } from './config.ts';
import type { Prompt } from './confirm.ts';
import { json } from './output.ts';

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

/** Thrown when a strategy version, key or provider the command names does not exist; says where to look. */
export class NotThereError extends CommstratError {
  constructor(what: string, listCommand: string) {
    super('not_found', `${what} not found: \`${listCommand}\` shows what there is`);
  }
}
