// `commstrat templates ...`: a tenant's message templates, from files, through ingest's
// admin API. A change shows its diff and is confirmed before it is saved; a preview
// renders a file or a saved version with sample variables (docs/templates.md).
import { existsSync } from 'node:fs';
import { jsonDiff } from '@commstrat/core';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { AdminClient, PreviewRequest, TemplatePreviewView, TemplateView } from './admin-client.ts';
import { adminGroup, emit, NotThereError, runAdmin, type AdminIo } from './admin-commands.ts';
import { confirm } from './confirm.ts';
import { readDefinitionFile } from './definition-file.ts';
import { invalid, parseVersion } from './options.ts';
import { renderChanges, table } from './output.ts';

interface PreviewOptions {
  readonly locale?: string;
  readonly channel?: string;
  readonly variables?: string;
  readonly version?: string;
  readonly json?: boolean;
}

export function templatesCommands(program: Command, io: AdminIo): void {
  const group = adminGroup(program, 'templates', "Validate, apply, diff, preview, list and show the tenant's message templates (ingest's admin API).");

  group
    .command('validate')
    .description('Check a template file (YAML or JSON) as ingest would save it: its Liquid, variables schema, MJML, and a render of its sample variables; saves nothing. Every problem is listed by its path.')
    .argument('<file>', 'the template, .yaml/.yml or .json')
    .action(async (file: string, _options: unknown, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const { template } = await client.validateTemplate(await readDefinitionFile(file), `the template in ${file}`);
        io.out(`${file}: template ${String(template['name'])} is valid`);
        return 0;
      });
    });

  group
    .command('apply')
    .description('Save a template file as the next version of its name: validates it, prints the diff against the newest version, asks, saves. An unchanged file saves nothing.')
    .argument('<file>', 'the template, .yaml/.yml or .json')
    .option('--yes', 'save without asking (needed when stdin is not a terminal)')
    .action(async (file: string, options: { yes?: boolean }, command: Command) => {
      await runAdmin(io, command, (client) => applyTemplate(client, io, file, options.yes === true));
    });

  group
    .command('diff')
    .description('What changed from one version of a template to another.')
    .argument('<name>', 'the template name')
    .argument('<from>', 'the earlier version')
    .argument('<to>', 'the later version')
    .option('--json', 'print JSON for scripts')
    .action(async (name: string, fromText: string, toText: string, options: { json?: boolean }, command: Command) => {
      const from = parseVersion('<from>', fromText);
      const to = parseVersion('<to>', toText);
      await runAdmin(io, command, async (client) => {
        const changes = await client.diffTemplate(name, from, to);
        emit(io, options.json, { changes }, () =>
          changes.length === 0 ? `template ${name}: versions ${from} and ${to} are the same` : `template ${name}, version ${from} -> ${to}:\n${renderChanges(changes)}`,
        );
        return 0;
      });
    });

  group
    .command('preview')
    .description('Render a template file, or a saved template by name, as a message in --locale would get it (ru-RU, then ru, then its default): each channel, and for SMS its GSM-7/UCS-2 encoding and parts.')
    .argument('<file-or-name>', 'a template file (.yaml/.yml/.json), or the name of a saved template')
    .option('--locale <tag>', 'the recipient locale, BCP 47 (e.g. ru-RU); default: the template default')
    .option('--channel <channel>', 'only this channel (sms, email, push, messenger, webhook)')
    .option('--variables <json>', "the variables, as JSON or @file.json; default: the template's sample_variables")
    .option('--version <n>', 'with a name: this version instead of the newest')
    .option('--json', 'print JSON for scripts')
    .action(async (target: string, options: PreviewOptions, command: Command) => {
      const request = await previewRequest(options);
      await runAdmin(io, command, async (client) => {
        const isFile = existsSync(target);
        if (isFile && options.version !== undefined) throw invalid('--version', 'is for a saved template, not a file');
        const subject = isFile ? `the template in ${target}` : `template ${target}`;
        const preview = await client.previewTemplate(isFile ? { template: await readDefinitionFile(target) } : { name: target }, request, subject);
        emit(io, options.json, preview, () => renderPreview(preview));
        return 0;
      });
    });

  group
    .command('list')
    .description('The newest version of each template.')
    .option('--json', 'print JSON for scripts')
    .action(async (options: { json?: boolean }, command: Command) => {
      await runAdmin(io, command, async (client) => {
        const templates = await client.listTemplates();
        emit(io, options.json, { templates }, () =>
          table(
            ['name', 'version', 'channels', 'default locale', 'saved'],
            templates.map((t) => [t.name, t.version, Object.keys(t.definition['channels'] ?? {}).join(','), t.definition['default_locale'], t.created_at]),
          ),
        );
        return 0;
      });
    });

  group
    .command('show')
    .description('One template version (the newest unless --version), as YAML that `apply` takes back.')
    .argument('<name>', 'the template name')
    .option('--version <n>', 'this version instead of the newest')
    .option('--json', 'print JSON for scripts')
    .action(async (name: string, options: { version?: string; json?: boolean }, command: Command) => {
      const version = options.version === undefined ? undefined : parseVersion('--version', options.version);
      await runAdmin(io, command, async (client) => {
        const found = await requireTemplate(client, name, version);
        emit(io, options.json, found, () => `# ${describe(found)}\n${stringify(found.definition).trimEnd()}`);
        return 0;
      });
    });
}

async function applyTemplate(client: AdminClient, io: AdminIo, file: string, yes: boolean): Promise<number> {
  const document = await readDefinitionFile(file);
  const subject = `the template in ${file}`;
  const { template } = await client.validateTemplate(document, subject);
  const name = String(template['name']);
  const current = await client.findTemplate(name);
  const changes = jsonDiff(current?.definition ?? {}, template);
  if (current !== null && changes.length === 0) {
    io.out(`template ${name}: ${file} matches the newest version (${current.version}); nothing saved`);
    return 0;
  }
  io.out([current === null ? `template ${name}: new, from ${file}` : `template ${name}: version ${current.version} -> ${file}`, renderChanges(changes)].join('\n'));
  if (!(await confirm(`Save template ${name} as version ${(current?.version ?? 0) + 1}?`, { yes, prompt: io.prompt }))) {
    io.out('not confirmed: nothing saved');
    return 1;
  }
  const saved = await client.saveTemplate(name, document, subject);
  io.out(`saved ${describe(saved)}`);
  return 0;
}

/** The preview's body from the flags; `--variables @file.json` reads the file. */
async function previewRequest(options: PreviewOptions): Promise<PreviewRequest> {
  let variables: Record<string, unknown> | undefined;
  if (options.variables !== undefined) {
    variables = options.variables.startsWith('@') ? await readDefinitionFile(options.variables.slice(1)) : parseVariables(options.variables);
  }
  return {
    ...(variables === undefined ? {} : { variables }),
    ...(options.locale === undefined ? {} : { locale: options.locale }),
    ...(options.channel === undefined ? {} : { channel: options.channel }),
    ...(options.version === undefined ? {} : { version: parseVersion('--version', options.version) }),
  };
}

function parseVariables(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid('--variables', `is not JSON (${error instanceof Error ? error.message : String(error)}); give a JSON object or @file.json`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('--variables', 'must be a JSON object of the variables');
  return value as Record<string, unknown>;
}

function renderPreview(preview: TemplatePreviewView): string {
  const head = `template ${preview.template}${preview.version === undefined ? ' (file, not saved)' : ` version ${preview.version}`}`;
  const parts = preview.renders.map((render) => {
    const lines = [`${render.channel} (${render.locale}):`];
    if (render.subject !== undefined) lines.push(`  subject: ${render.subject}`);
    if (render.text !== undefined) lines.push(...render.text.split('\n').map((line, i) => `  ${i === 0 ? 'text: ' : '      '}${line}`));
    if (render.html !== undefined) lines.push(`  html: ${render.html.length} characters`);
    if (render.sms !== undefined) {
      const { encoding, parts: count, characters } = render.sms;
      lines.push(`  sms: ${encoding.toUpperCase()}, ${count} part${count === 1 ? '' : 's'} (${characters} characters)`);
    }
    return lines.join('\n');
  });
  return [head, ...parts].join('\n');
}

async function requireTemplate(client: AdminClient, name: string, version?: number): Promise<TemplateView> {
  const found = await client.findTemplate(name, version);
  if (found === null) throw new NotThereError(`template ${name}${version === undefined ? '' : ` version ${version}`}`, 'commstrat templates list');
  return found;
}

function describe(view: TemplateView): string {
  return `template ${view.name} version ${view.version} (saved ${view.created_at} by ${view.created_by})`;
}
