import { isDeepStrictEqual } from 'node:util';
import { NotFoundError, ValidationError } from '@commstrat/core';
import { checkTemplate, type Template } from '@commstrat/templates';
import type { JSONValue, Sql, TransactionSql } from 'postgres';
import { writeAudit } from './audit.ts';

/** One saved version of a tenant's template (migration 013). */
export interface StoredTemplate {
  readonly tenantId: string;
  readonly name: string;
  /** 1 for the first save of a name, then +1 per save that changed it. */
  readonly version: number;
  readonly template: Template;
  /** Who saved it, e.g. `api-key:<key id>`. */
  readonly createdBy: string;
  readonly createdAt: Date;
}

export interface SaveTemplateOptions {
  /** The name the caller addresses (the URL's); the template's own must match, and is filled in when absent. */
  readonly name?: string;
  /** Who saves, for the audit log. Default "system". */
  readonly actor?: string;
}

interface TemplateRow {
  tenant_id: string;
  name: string;
  version: number;
  definition: Template;
  created_by: string;
  created_at: Date;
}

/**
 * The template document as the caller addresses it: the name filled in from the URL
 * when the document has none, and refused when it has another.
 */
export function namedTemplate(input: unknown, name: string | undefined): unknown {
  if (name === undefined || typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  if (!('name' in input)) return { ...input, name };
  if (input.name !== name) throw new ValidationError([{ path: '/name', message: `must be "${name}", the name it is saved under` }]);
  return input;
}

/**
 * Saves a template as the next version of its name, checked first (checkTemplate:
 * shape, locales, variables schema, Liquid; nothing is written when it fails) and
 * audited (`template.save`, before and after) in the same transaction. A template
 * equal to the newest version saves nothing and returns that version with
 * `created: false`, so applying a file again does not pile up versions. Rendering
 * (MJML, the sample render) is checked by the caller that has a TemplateRenderer.
 * Throws NotFoundError for an unknown tenant.
 */
export async function saveTemplate(
  sql: Sql,
  tenantId: string,
  input: unknown,
  options: SaveTemplateOptions = {},
): Promise<{ stored: StoredTemplate; created: boolean }> {
  const { template } = checkTemplate(namedTemplate(input, options.name));
  return sql.begin(async (tx) => {
    // Saves of one tenant take turns: the version number is read, then written.
    const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
    if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
    return storeTemplate(tx, tenantId, template, options.actor ?? 'system');
  });
}

async function storeTemplate(
  tx: TransactionSql,
  tenantId: string,
  template: Template,
  actor: string,
  rolledBackTo?: number,
): Promise<{ stored: StoredTemplate; created: boolean }> {
  const [previous] = await tx<TemplateRow[]>`
    SELECT tenant_id, name, version, definition, created_by, created_at FROM templates
    WHERE tenant_id = ${tenantId} AND name = ${template.name} ORDER BY version DESC LIMIT 1`;
  if (rolledBackTo === undefined && previous !== undefined && isDeepStrictEqual(previous.definition, template)) {
    return { stored: toStored(previous), created: false };
  }
  const version = (previous?.version ?? 0) + 1;
  const [row] = await tx<TemplateRow[]>`
    INSERT INTO templates (tenant_id, name, version, definition, created_by)
    VALUES (${tenantId}, ${template.name}, ${version}, ${tx.json(template as unknown as JSONValue)}, ${actor})
    RETURNING tenant_id, name, version, definition, created_by, created_at`;
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  await writeAudit(tx, {
    tenantId,
    actor,
    action: rolledBackTo === undefined ? 'template.save' : 'template.rollback',
    extra: { name: template.name, version, ...(rolledBackTo === undefined ? {} : { rolled_back_to: rolledBackTo }) },
    before: previous?.definition ?? null,
    after: template,
  });
  return { stored: toStored(row), created: true };
}

/**
 * Saves version `toVersion` of a template again, as newest + 1 (rows are never
 * rewritten), audited as `template.rollback` with the document before and after, like a
 * strategy's rollback: always a new version, so the log says a rollback happened even
 * when the newest already says the same. The old document is checked again as a save
 * would check it (checkTemplate), so one that today's rules refuse is refused with its
 * paths; rendering is the caller's to check, as for saveTemplate. Throws NotFoundError
 * when the version does not exist.
 */
export async function rollbackTemplate(sql: Sql, tenantId: string, name: string, toVersion: number, options: { readonly actor?: string } = {}): Promise<StoredTemplate> {
  return sql.begin(async (tx) => {
    const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
    if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
    const [old] = await tx<TemplateRow[]>`
      SELECT tenant_id, name, version, definition, created_by, created_at FROM templates
      WHERE tenant_id = ${tenantId} AND name = ${name} AND version = ${toVersion}`;
    if (old === undefined) throw new NotFoundError(`template ${name} version ${toVersion}`);
    const { template } = checkTemplate(old.definition);
    return (await storeTemplate(tx, tenantId, template, options.actor ?? 'system', toVersion)).stored;
  });
}

/** One version of a template, without its document. */
export interface TemplateVersion {
  readonly version: number;
  readonly createdBy: string;
  readonly createdAt: Date;
}

/** Every version of one of the tenant's templates, newest first; [] when the name has none. */
export async function listTemplateVersions(sql: Sql, tenantId: string, name: string): Promise<TemplateVersion[]> {
  const rows = await sql<{ version: number; created_by: string; created_at: Date }[]>`
    SELECT version, created_by, created_at FROM templates
    WHERE tenant_id = ${tenantId} AND name = ${name} ORDER BY version DESC`;
  return rows.map((row) => ({ version: row.version, createdBy: row.created_by, createdAt: row.created_at }));
}

/** The newest version of a template, or the given version; null when there is none. */
export async function findTemplate(sql: Sql, tenantId: string, name: string, version?: number): Promise<StoredTemplate | null> {
  const rows = await sql<TemplateRow[]>`
    SELECT tenant_id, name, version, definition, created_by, created_at FROM templates
    WHERE tenant_id = ${tenantId} AND name = ${name} ${version === undefined ? sql`` : sql`AND version = ${version}`}
    ORDER BY version DESC LIMIT 1`;
  return rows[0] === undefined ? null : toStored(rows[0]);
}

/** The newest version of each of the tenant's templates, by name. */
export async function listTemplates(sql: Sql, tenantId: string): Promise<StoredTemplate[]> {
  const rows = await sql<TemplateRow[]>`
    SELECT DISTINCT ON (name) tenant_id, name, version, definition, created_by, created_at FROM templates
    WHERE tenant_id = ${tenantId} ORDER BY name, version DESC`;
  return rows.map(toStored);
}

/**
 * The newest version of each template of these tenants, by tenant and name: what the
 * routing snapshot holds (a few bytes a template; the documents are read by version,
 * once, by TemplateCache).
 */
export async function loadTemplateVersions(sql: Sql, tenantIds: readonly string[]): Promise<Map<string, Map<string, number>>> {
  const versions = new Map<string, Map<string, number>>(tenantIds.map((id) => [id, new Map()]));
  if (tenantIds.length === 0) return versions;
  const rows = await sql<{ tenant_id: string; name: string; version: number }[]>`
    SELECT tenant_id, name, max(version) AS version FROM templates
    WHERE tenant_id IN ${sql(tenantIds)} GROUP BY tenant_id, name`;
  for (const row of rows) versions.get(row.tenant_id)?.set(row.name, row.version);
  return versions;
}

function toStored(row: TemplateRow): StoredTemplate {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    version: row.version,
    template: row.definition,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}
