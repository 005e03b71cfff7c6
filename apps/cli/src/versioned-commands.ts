// What the command groups of versioned documents (strategies, templates) share: ingest
// keeps every save of a name as its next version, so `validate`, `apply`, `diff` and
// `show` read the same for each; only the document and its client calls differ.
import { jsonDiff, type JsonChange } from '@commstrat/core';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { AdminClient } from './admin-client.ts';
import { emit, NotThereError, runAdmin, saveIfConfirmed, type AdminIo } from './admin-commands.ts';
import { readDefinitionFile } from './definition-file.ts';
import { parseVersion } from './options.ts';
import { renderChanges } from './output.ts';

/** A saved version of a document, as the admin API shows it. */
export interface VersionView {
  readonly name: string;
  readonly version: number;
  readonly definition: Record<string, unknown>;
}

/** One version (the newest without `version`), or null when there is none. */
type FindVersion<T> = (client: AdminClient, name: string, version?: number) => Promise<T | null>;

/** `validate <file>`: the document as ingest would save it; saves nothing. `noun` is `template`, `strategy`. */
export function validateCommand(
  group: Command,
  io: AdminIo,
  noun: string,
  text: { readonly description: string; readonly file: string },
  validate: (client: AdminClient, document: Record<string, unknown>, subject: string) => Promise<Record<string, unknown>>,
): void {
  group
    .command('validate')
    .description(text.description)
    .argument('<file>', text.file)
    .action(async (file: string, _options: unknown, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const valid = await validate(client, await readDefinitionFile(file), `the ${noun} in ${file}`);
        io.out(`${file}: ${noun} ${String(valid['name'])} is valid`);
        return 0;
      });
    });
}

/** `diff <name> <from> <to>`: what changed from one saved version to another. */
export function diffCommand(
  group: Command,
  io: AdminIo,
  noun: string,
  diff: (client: AdminClient, name: string, from: number, to: number) => Promise<JsonChange[]>,
): void {
  group
    .command('diff')
    .description(`What changed from one version of a ${noun} to another.`)
    .argument('<name>', `the ${noun} name`)
    .argument('<from>', 'the earlier version')
    .argument('<to>', 'the later version')
    .option('--json', 'print JSON for scripts')
    .action(async (name: string, fromText: string, toText: string, options: { json?: boolean }, command: Command) => {
      const from = parseVersion('<from>', fromText);
      const to = parseVersion('<to>', toText);
      await runAdmin(io, command, async (client) => {
        const changes = await diff(client, name, from, to);
        emit(io, options.json, { changes }, () =>
          changes.length === 0 ? `${noun} ${name}: versions ${from} and ${to} are the same` : `${noun} ${name}, version ${from} -> ${to}:\n${renderChanges(changes)}`,
        );
        return 0;
      });
    });
}

/** `show <name> [--version n]`: one saved version, its definition as YAML that `apply` takes back. */
export function showCommand<T extends VersionView>(
  group: Command,
  io: AdminIo,
  noun: string,
  spec: { readonly description: string; readonly find: FindVersion<T>; readonly describe: (view: T) => string },
): void {
  group
    .command('show')
    .description(spec.description)
    .argument('<name>', `the ${noun} name`)
    .option('--version <n>', 'this version instead of the newest')
    .option('--json', 'print JSON for scripts')
    .action(async (name: string, options: { version?: string; json?: boolean }, command: Command) => {
      const version = options.version === undefined ? undefined : parseVersion('--version', options.version);
      await runAdmin(io, command, async (client) => {
        const found = requireVersion(`commstrat ${group.name()} list`, noun, await spec.find(client, name, version), name, version);
        emit(io, options.json, found, () => `# ${spec.describe(found)}\n${stringify(found.definition).trimEnd()}`);
        return 0;
      });
    });
}

/** `found`, or the error that names the missing version and the command (`listCommand`) that shows what there is. */
export function requireVersion<T>(listCommand: string, noun: string, found: T | null, name: string, version?: number): T {
  if (found === null) throw new NotThereError(`${noun} ${name}${version === undefined ? '' : ` version ${version}`}`, listCommand);
  return found;
}

/** What `apply` weighs: a validated document from `file` against the newest saved version of its name. */
export interface ApplyVersion {
  readonly noun: string;
  readonly name: string;
  readonly file: string;
  readonly current: VersionView | null;
  /** The document as ingest validated it, its defaults filled in as a saved version has them. */
  readonly validated: Record<string, unknown>;
  /** Lines after the diff for a change the document does not hold (a strategy becoming its channel's default); any line makes it a change. */
  readonly also?: readonly string[];
  readonly yes: boolean;
  /** Saves the version; answers how to name what was saved. */
  readonly save: () => Promise<string>;
}

/** `apply`: prints the diff against the newest version, asks, saves; an unchanged document saves nothing. The exit code. */
export async function applyVersion(io: AdminIo, apply: ApplyVersion): Promise<number> {
  const { noun, name, file, current } = apply;
  const also = apply.also ?? [];
  const changes = jsonDiff(current?.definition ?? {}, apply.validated);
  if (current !== null && changes.length === 0 && also.length === 0) {
    io.out(`${noun} ${name}: ${file} matches the newest version (${current.version}); nothing saved`);
    return 0;
  }
  io.out(
    [
      current === null ? `${noun} ${name}: new, from ${file}` : `${noun} ${name}: version ${current.version} -> ${file}`,
      ...(changes.length === 0 ? [] : [renderChanges(changes)]),
      ...also,
    ].join('\n'),
  );
  return saveIfConfirmed(io, `Save ${noun} ${name} as version ${(current?.version ?? 0) + 1}?`, apply.yes, async () => `saved ${await apply.save()}`);
}
