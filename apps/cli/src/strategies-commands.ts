// `commstrat strategies ...`: a tenant's communication strategies, from files, through
// ingest's admin API. Every change shows its diff and is confirmed before it is saved.
import { jsonDiff } from '@commstrat/core';
import type { Command } from 'commander';
import type { AdminClient, StrategyView } from './admin-client.ts';
import { adminGroup, listCommand, runAdmin, saveIfConfirmed, type AdminIo } from './admin-commands.ts';
import { readDefinitionFile } from './definition-file.ts';
import { parseVersion } from './options.ts';
import { renderChanges } from './output.ts';
import { applyVersion, diffCommand, requireVersion, showCommand, validateCommand } from './versioned-commands.ts';

/** Where a missing strategy's error sends the user. */
const LIST = 'commstrat strategies list';

export function strategiesCommands(program: Command, io: AdminIo): void {
  const group = adminGroup(program, 'strategies', "Validate, apply, list, show, diff and roll back the tenant's strategies (ingest's admin API).");

  validateCommand(
    group,
    io,
    'strategy',
    {
      description: 'Check a strategy file (YAML or JSON) as ingest would save it, saving nothing; every wrong field is listed by its path.',
      file: 'the strategy definition, .yaml/.yml or .json',
    },
    async (client, document, subject) => (await client.validateStrategy(document, subject)).strategy,
  );

  group
    .command('apply')
    .description('Save a strategy file as the next version of its name: validates it, prints the diff against the newest version, asks, saves. An unchanged file saves nothing.')
    .argument('<file>', 'the strategy definition, .yaml/.yml or .json')
    .option('--yes', 'save without asking (needed when stdin is not a terminal)')
    .option('--default-for-channel', "make it the default strategy of its channel (messages that name no strategy use it)")
    .action(async (file: string, options: { yes?: boolean; defaultForChannel?: boolean }, command: Command) => {
      await runAdmin(io, command, (client) => applyStrategy(client, io, file, { yes: options.yes === true, defaultForChannel: options.defaultForChannel === true }));
    });

  listCommand(group, io, {
    description: 'The newest version of each strategy.',
    key: 'strategies',
    load: (client) => client.listStrategies(),
    columns: ['name', 'version', 'channel', 'default', 'saved'],
    row: (s: StrategyView) => [s.name, s.version, s.channel, s.default_for_channel ? 'yes' : '', s.created_at],
  });

  showCommand(group, io, 'strategy', {
    description: 'One strategy version (the newest unless --version), its definition as YAML that `apply` takes back.',
    find: findStrategy,
    describe,
  });

  diffCommand(group, io, 'strategy', (client, name, from, to) => client.diffStrategy(name, from, to));

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
  const becomesDefault = options.defaultForChannel && current?.default_for_channel !== true;
  return applyVersion(io, {
    noun: 'strategy',
    name,
    file,
    current,
    validated: strategy,
    also: becomesDefault ? [`  becomes the default strategy for ${String(strategy['channel'])}`] : [],
    yes: options.yes,
    save: async () => describe(await client.saveStrategy(definition, { defaultForChannel: options.defaultForChannel, subject })),
  });
}

async function rollbackStrategy(client: AdminClient, io: AdminIo, name: string, version: number, yes: boolean): Promise<number> {
  const current = requireVersion(LIST, 'strategy', await findStrategy(client, name), name);
  const target = requireVersion(LIST, 'strategy', await findStrategy(client, name, version), name, version);
  const changes = jsonDiff(current.definition, target.definition);
  if (changes.length === 0) {
    io.out(`strategy ${name}: version ${version} has the same definition as the newest (${current.version}); nothing saved`);
    return 0;
  }
  io.out(`strategy ${name}: version ${current.version} -> version ${version}\n${renderChanges(changes)}`);
  return saveIfConfirmed(io, `Save version ${version} of ${name} again, as version ${current.version + 1}?`, yes, async () => {
    const saved = await client.rollbackStrategy(name, version);
    return `saved ${describe(saved)}, a copy of version ${version}`;
  });
}

function findStrategy(client: AdminClient, name: string, version?: number): Promise<StrategyView | null> {
  return client.findStrategy(name, version);
}

function describe(view: StrategyView): string {
  return `strategy ${view.name} version ${view.version} (${view.channel}${view.default_for_channel ? ', default for its channel' : ''}, saved ${view.created_at})`;
}
