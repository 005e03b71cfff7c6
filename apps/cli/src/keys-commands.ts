// `commstrat keys ...`: the tenant's API keys through ingest's admin API. A key's secret
// is shown once, when it is created: ingest keeps only its digest.
import type { Command } from 'commander';
import type { ApiKeyView } from './admin-client.ts';
import { adminGroup, emit, listCommand, NotThereError, runAdmin, type AdminIo } from './admin-commands.ts';
import { confirm } from './confirm.ts';
import { invalid, parseScopes } from './options.ts';

export function keysCommands(program: Command, io: AdminIo): void {
  const group = adminGroup(program, 'keys', "Create, list and revoke the tenant's API keys (ingest's admin API).");

  group
    .command('create')
    .description('Create an API key; its secret is printed once, here, and never again.')
    .requiredOption('--label <label>', 'what the key is for, e.g. "checkout service"')
    .requiredOption('--scopes <list>', 'comma-separated: send (submit and cancel messages), read (look them up), admin (configuration)')
    .option('--json', 'print JSON for scripts (the secret is in "key")')
    .action(async (options: { label: string; scopes: string; json?: boolean }, command: Command) => {
      if (options.label.trim() === '') throw invalid('--label', 'must not be empty');
      const scopes = parseScopes(options.scopes);
      await runAdmin(io, command, async (client) => {
        const created = await client.createKey(options.label, scopes);
        emit(io, options.json, created, () =>
          [
            `created key ${created.id} (${created.label}; scopes ${created.scopes.join(', ')})`,
            created.key,
            'Store the key now: it is not shown again (ingest keeps only its digest).',
          ].join('\n'),
        );
        return 0;
      });
    });

  listCommand(group, io, {
    description: 'Every key of the tenant, revoked ones included; never their secrets.',
    key: 'keys',
    load: (client) => client.listKeys(),
    columns: ['id', 'label', 'scopes', 'created', 'revoked'],
    row: (key: ApiKeyView) => [key.id, key.label, key.scopes.join(','), key.created_at, key['revoked_at']],
  });

  group
    .command('revoke')
    .description('Revoke a key: every ingest replica refuses it from then on. Asks first.')
    .argument('<id>', 'the key id (`commstrat keys list`)')
    .option('--yes', 'revoke without asking (needed when stdin is not a terminal)')
    .action(async (id: string, options: { yes?: boolean }, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const key = (await client.listKeys()).find((candidate) => candidate.id === id);
        if (key === undefined) throw new NotThereError(`API key ${id}`, 'commstrat keys list');
        if (isRevoked(key)) {
          io.out(`key ${id} (${key.label}) is already revoked; nothing changed`);
          return 0;
        }
        if (!(await confirm(`Revoke key ${id} (${key.label}; scopes ${key.scopes.join(', ')})? Whatever uses it stops working.`, { yes: options.yes === true, prompt: io.prompt }))) {
          io.out('not confirmed: nothing changed');
          return 1;
        }
        await client.revokeKey(id);
        io.out(`revoked key ${id} (${key.label})`);
        return 0;
      });
    });
}

function isRevoked(key: ApiKeyView): boolean {
  return key['revoked_at'] !== undefined && key['revoked_at'] !== null;
}
