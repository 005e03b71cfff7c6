// `commstrat strategies ...`: a tenant's communication strategies, from files, through
// ingest's admin API. Every change shows its diff and is confirmed before it is saved.
import { jsonDiff } from '@commstrat/core';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { AdminClient, StrategyView } from './admin-client.ts';
import { adminGroup, emit, NotThereError, runAdmin, type AdminIo } from './admin-commands.ts';
import { confirm } from './confirm.ts';
import { readDefinitionFile } from './definition-file.ts';
import { parseVersion } from './options.ts';
import { renderChanges, table } from './output.ts';

export function strategiesCommands(program: Command, io: AdminIo): void {
  const group = adminGroup(program, 'strategies', "Validate, apply, list, show, diff and roll back the tenant's strategies (ingest's admin API).");

  group
    .command('validate')
    .description('Check a strategy file (YAML or JSON) as ingest would save it, saving nothing; every wrong field is listed by its path.')
    .argument('<file>', 'the strategy definition, .yaml/.yml or .json')
    .action(async (file: string, _options: unknown, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const { strategy } = await client.validateStrategy(await readDefinitionFile(file), `the strategy in ${file}`);
        io.out(`${file}: strategy ${String(strategy['name'])} is valid`);
        return 0;
      });
    });

  group
    .command('apply')
    .description('Save a strategy file as the next version of its name: validates it, prints the diff against the newest version, asks, saves. An unchanged file saves nothing.')
    .argument('<file>', 'the strategy definition, .yaml/.yml or .json')
    .option('--yes', 'save without asking (needed when stdin is not a terminal)')
    .option('--default-for-channel', "make it the default strategy of its channel (messages that name no strategy use it)")
    .action(async (file: string, options: { yes?: boolean; defaultForChannel?: boolean }, command: Command) => {
      await runAdmin(io, command, (client) => applyStrategy(client, io, file, { yes: options.yes === true, defaultForChannel: options.defaultForChannel === true }));
    });

  group
    .command('list')
    .description('The newest version of each strategy.')
    .option('--json', 'print JSON for scripts')
    .action(async (options: { json?: boolean }, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const strategies = await client.listStrategies();
        emit(io, options.json, { strategies }, () =>
          table(
            ['name', 'version', 'channel', 'default', 'saved'],
            strategies.map((s) => [s.name, s.version, s.channel, s.default_for_channel ? 'yes' : '', s.created_at]),
          ),
        );
        return 0;
      });
    });

  group
    .command('show')
    .description('One strategy version (the newest unless --version), its definition as YAML that `apply` takes back.')
    .argument('<name>', 'the strategy name')
    .option('--version <n>', 'this version instead of the newest')
    .option('--json', 'print JSON for scripts')
    .action(async (name: string, options: { version?: string; json?: boolean }, command: Command) => {
      const version = options.version === undefined ? undefined : parseVersion('--version', options.version);
      await runAdmin(io, command, async (client) => {
        const found = await requireStrategy(client, name, version);
        emit(io, options.json, found, () => `# ${describe(found)}\n${stringify(found.definition).trimEnd()}`);
        return 0;
      });
    });

  group
    .command('diff')
    .description('What changed from one version of a strategy to another.')
    .argument('<name>', 'the strategy name')
    .argument('<from>', 'the earlier version')
    .argument('<to>', 'the later version')
    .option('--json', 'print JSON for scripts')
    .action(async (name: string, fromText: string, toText: string, options: { json?: boolean }, command: Command) => {
      const from = parseVersion('<from>', fromText);
      const to = parseVersion('<to>', toText);
      await runAdmin(io, command, async (client) => {
        const changes = await client.diffStrategy(name, from, to);
        emit(io, options.json, { changes }, () =>
          changes.length === 0
            ? `strategy ${name}: versions ${from} and ${to} are the same`
            : `strategy ${name}, version ${from} -> ${to}:\n${renderChanges(changes)}`,
        );
        return 0;
      });
    });

  group
    .command('rollback')
    .description('Save an earlier version again, as the next version (history is kept): prints the diff from the newest, asks, saves.')
    .argument('<name>', 'the strategy name')
    .argument('<version>', 'the version to go back to')
    .option('--yes', 'roll back without asking (needed when stdin is not a terminal)')
    .action(async (name: string, versionText: string, options: { yes?: boolean }, command: Command) => {
      const version = parseVersion('<version>', versionText);
      await runAdmin(io, command, (client) => rollbackStrategy(client, io, name, version, options.yes === true));
    });
}

async function applyStrategy(client: AdminClient, io: AdminIo, file: string, options: { yes: boolean; defaultForChannel: boolean }): Promise<number> {
  const definition = await readDefinitionFile(file);
  const subject = `the strategy in ${file}`;
  // The validated form has ingest's defaults filled in, as a saved version does: a file
  // that leaves a default out is not a change.
  const { strategy } = await client.validateStrategy(definition, subject);
  const name = String(strategy['name']);
  const current = await client.findStrategy(name);
  const changes = jsonDiff(current?.definition ?? {}, strategy);
  const becomesDefault = options.defaultForChannel && current?.default_for_channel !== true;
  if (current !== null && changes.length === 0 && !becomesDefault) {
    io.out(`strategy ${name}: ${file} matches the newest version (${current.version}); nothing saved`);
    return 0;
  }
  io.out(
    [
      current === null ? `strategy ${name}: new, from ${file}` : `strategy ${name}: version ${current.version} -> ${file}`,
      ...(changes.length === 0 ? [] : [renderChanges(changes)]),
      ...(becomesDefault ? [`  becomes the default strategy for ${String(strategy['channel'])}`] : []),
    ].join('\n'),
  );
  if (!(await confirm(`Save strategy ${name} as version ${(current?.version ?? 0) + 1}?`, { yes: options.yes, prompt: io.prompt }))) {
    io.out('not confirmed: nothing saved');
    return 1;
  }
  const saved = await client.saveStrategy(definition, { defaultForChannel: options.defaultForChannel, subject });
  io.out(`saved ${describe(saved)}`);
  return 0;
}

async function rollbackStrategy(client: AdminClient, io: AdminIo, name: string, version: number, yes: boolean): Promise<number> {
  const current = await requireStrategy(client, name);
  const target = await requireStrategy(client, name, version);
  const changes = jsonDiff(current.definition, target.definition);
  if (changes.length === 0) {
    io.out(`strategy ${name}: version ${version} has the same definition as the newest (${current.version}); nothing saved`);
    return 0;
  }
  io.out(`strategy ${name}: version ${current.version} -> version ${version}\n${renderChanges(changes)}`);
  if (!(await confirm(`Save version ${version} of ${name} again, as version ${current.version + 1}?`, { yes, prompt: io.prompt }))) {
    io.out('not confirmed: nothing saved');
    return 1;
  }
  const saved = await client.rollbackStrategy(name, version);
  io.out(`saved ${describe(saved)}, a copy of version ${version}`);
  return 0;
}

async function requireStrategy(client: AdminClient, name: string, version?: number): Promise<StrategyView> {
  const found = await client.findStrategy(name, version);
  if (found === null) throw new NotThereError(`strategy ${name}${version === undefined ? '' : ` version ${version}`}`, 'commstrat strategies list');
  return found;
}

function describe(view: StrategyView): string {
  return `strategy ${view.name} version ${view.version} (${view.channel}${view.default_for_channel ? ', default for its channel' : ''}, saved ${view.created_at})`;
}
