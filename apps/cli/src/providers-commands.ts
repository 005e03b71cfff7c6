// `commstrat providers ...`: the tenant's providers from files, through ingest's admin
// API. Credentials are never shown in full, by ingest: the CLI only ever sees masks.
import { jsonDiff } from '@commstrat/core';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { AdminClient, ProviderView } from './admin-client.ts';
import { adminGroup, emit, listCommand, NotThereError, runAdmin, saveIfConfirmed, type AdminIo } from './admin-commands.ts';
import { readDefinitionFile } from './definition-file.ts';
import { renderChanges } from './output.ts';

export function providersCommands(program: Command, io: AdminIo): void {
  const group = adminGroup(program, 'providers', "Validate, apply, list and show the tenant's providers (ingest's admin API).");

  group
    .command('validate')
    .description('Check a provider file (YAML or JSON, with its `id`) as ingest would apply it, saving nothing; every wrong field is listed by its path.')
    .argument('<file>', 'the provider change, .yaml/.yml or .json')
    .action(async (file: string, _options: unknown, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const check = await client.validateProvider(await readDefinitionFile(file), `the provider in ${file}`);
        const effect = check.created ? 'would create it' : check.changed ? 'would change it' : 'matches what is saved';
        io.out(`${file}: provider ${String(check.provider['id'])} is valid (${effect})`);
        return 0;
      });
    });

  group
    .command('apply')
    .description('Create or change a provider from a file (YAML or JSON, with its `id`): validates it, prints the diff against what is saved, asks, saves. An unchanged file saves nothing.')
    .argument('<file>', 'the provider change, .yaml/.yml or .json; a field left out keeps its value')
    .option('--yes', 'save without asking (needed when stdin is not a terminal)')
    .action(async (file: string, options: { yes?: boolean }, command: Command) => {
      await runAdmin(io, command, (client) => applyProvider(client, io, file, options.yes === true));
    });

  listCommand(group, io, {
    description: 'Every provider of the tenant; credentials masked.',
    key: 'providers',
    load: (client) => client.listProviders(),
    columns: ['id', 'kind', 'definition', 'endpoint', 'rate/s', 'batch', 'enabled'],
    row: (p: ProviderView) => [p['id'], p['kind'], definitionOf(p), p['endpoint'], p['rate_per_second'], p['max_batch_size'], p['enabled']],
  });

  group
    .command('show')
    .description('One provider as YAML that `apply` takes back (a credential left as its mask keeps the saved value).')
    .argument('<id>', 'the provider id')
    .option('--json', 'print JSON for scripts')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const provider = await client.findProvider(id);
        if (provider === null) throw new NotThereError(`provider ${id}`, 'commstrat providers list');
        emit(io, options.json, provider, () => `# provider ${describe(provider)}\n${stringify(asChange(provider)).trimEnd()}`);
        return 0;
      });
    });
}

async function applyProvider(client: AdminClient, io: AdminIo, file: string, yes: boolean): Promise<number> {
  const change = await readDefinitionFile(file);
  const subject = `the provider in ${file}`;
  const check = await client.validateProvider(change, subject);
  const id = String(check.provider['id']);
  if (!check.changed) {
    io.out(`provider ${id}: ${file} matches what is saved; nothing saved`);
    return 0;
  }
  const current = check.created ? null : await client.findProvider(id);
  const changes = jsonDiff(current ?? {}, check.provider);
  io.out(
    [
      current === null ? `provider ${id}: new, from ${file}` : `provider ${id}: saved -> ${file}`,
      // Both sides are masked: a new secret with the same last characters (or a short one) does not show.
      ...(changes.length === 0 ? ['  ~ /credentials: a secret changed (values are masked)'] : [renderChanges(changes)]),
      ...(check.definition?.new_version === true ? [`  saves definition ${check.definition.name} version ${check.definition.version} and pins the provider to it`] : []),
    ].join('\n'),
  );
  return saveIfConfirmed(io, `${current === null ? 'Create' : 'Change'} provider ${id}?`, yes, async () => {
    const saved = await client.putProvider(id, change, subject);
    return `saved provider ${describe(saved)}; every replica picks it up within about a second`;
  });
}

/**
 * The provider as a change `apply` takes: the answer's `definition` says where the
 * definition comes from, while a change's `definition` is a whole inline one, so a
 * stored pin goes back as `definition_version` and the rest (kind names it) is left out.
 */
export function asChange(provider: ProviderView): Record<string, unknown> {
  const { definition, ...rest } = provider;
  const pinned = typeof definition === 'object' && definition !== null && 'version' in definition ? definition.version : null;
  return { ...rest, ...(typeof pinned === 'number' ? { definition_version: pinned } : {}) };
}

/** `sandbox-sms (http-sms)`, `acme-sms (acme-api, definition acme-api v2 (stored))`. */
function describe(provider: ProviderView): string {
  const definition = definitionOf(provider);
  return `${String(provider['id'])} (${String(provider['kind'])}${definition === null ? '' : `, definition ${definition}`})`;
}

/** `infobip-sms (shipped)`, `acme-sms v2 (stored)`, or null for a built-in adapter. */
function definitionOf(provider: ProviderView): string | null {
  const definition = provider['definition'];
  if (typeof definition !== 'object' || definition === null) return null;
  const { name, version, source } = definition as { name?: unknown; version?: unknown; source?: unknown };
  return `${String(name)}${typeof version === 'number' ? ` v${version}` : ''} (${String(source)})`;
}
