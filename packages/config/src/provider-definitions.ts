import { isDeepStrictEqual } from 'node:util';
import { NotFoundError, ValidationError, type FieldProblem } from '@commstrat/core';
import { parseProviderDefinition, shippedDefinitions, type ProviderDefinition } from '@commstrat/providers';
import type { JSONValue, Sql, TransactionSql } from 'postgres';
import { writeAudit } from './audit.ts';

/** One saved version of a tenant's provider definition (migration 009). */
export interface StoredProviderDefinition {
  readonly tenantId: string;
  readonly name: string;
  /** 1 for the first save of a name, then +1 per save that changed it. */
  readonly version: number;
  readonly definition: ProviderDefinition;
  /** Who saved it, e.g. `api-key:<key id>`. */
  readonly createdBy: string;
  readonly createdAt: Date;
}

/**
 * The definition a provider sends by: one of the tenant's stored ones at the version
 * the provider is pinned to, or one shipped in packages/providers/definitions.
 */
export type ResolvedProviderDefinition =
  | { readonly source: 'stored'; readonly name: string; readonly version: number; readonly definition: ProviderDefinition }
  | { readonly source: 'shipped'; readonly name: string; readonly definition: ProviderDefinition };

/** Kinds with a hand-written adapter (apps/dispatcher provider-registry.ts): not definitions. */
export const ADAPTER_KINDS: readonly string[] = ['http-sms', 'smtp', 'webhook'];

export interface SaveProviderDefinitionOptions {
  /** The name the caller addresses (the URL's); the definition's own must match, and is filled in when absent. */
  readonly name?: string;
  /** Who saves, for the audit log. Default "system". */
  readonly actor?: string;
  /** More checks of the parsed definition (the admin API's egress policy on its token URL); any problem refuses the save. */
  readonly check?: (definition: ProviderDefinition) => Promise<FieldProblem[]>;
}

interface DefinitionRow {
  tenant_id: string;
  name: string;
  version: number;
  definition: ProviderDefinition;
  created_by: string;
  created_at: Date;
}

/**
 * Checks a definition as a save would, writing nothing: YAML/JSON text or a parsed
 * document, through the shipped parser (parseProviderDefinition: schema, JSONPaths,
 * auth), then the rules of a stored one: its name is not a hand-written adapter's kind
 * or a shipped definition's, so a provider's `kind` always names one thing. Throws
 * ValidationError listing every problem found, each with its path in the definition.
 */
export function checkProviderDefinition(input: unknown, name?: string): ProviderDefinition {
  const document =
    name !== undefined && typeof input === 'object' && input !== null && !Array.isArray(input) && !('name' in input)
      ? { ...input, name }
      : input;
  const problems: FieldProblem[] = [];
  let definition: ProviderDefinition | undefined;
  try {
    // JSON is YAML: one parser for a document sent as JSON and for a file's text.
    definition = parseProviderDefinition(typeof document === 'string' ? document : JSON.stringify(document ?? null));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    problems.push(...error.problems);
  }
  const given = definition?.name ?? (document as { name?: unknown } | null)?.name;
  if (typeof given === 'string') {
    if (name !== undefined && given !== name) problems.push({ path: '/name', message: `must be "${name}", the name it is saved under` });
    if (ADAPTER_KINDS.includes(given)) problems.push({ path: '/name', message: `is the kind of a built-in adapter; choose another name` });
    if (shippedDefinitions().has(given)) problems.push({ path: '/name', message: `is the name of a shipped definition; choose another name` });
  }
  if (problems.length > 0 || definition === undefined) throw new ValidationError(problems);
  return definition;
}

/**
 * Saves a definition as the next version of its name, checked first
 * (checkProviderDefinition; nothing is written when it fails) and audited in the same
 * transaction. A definition equal to the newest version saves nothing and returns that
 * version with `created: false`, so applying a file again does not pile up versions.
 * Throws NotFoundError for an unknown tenant.
 */
export async function saveProviderDefinition(
  sql: Sql,
  tenantId: string,
  input: unknown,
  options: SaveProviderDefinitionOptions = {},
): Promise<{ stored: StoredProviderDefinition; created: boolean }> {
  const definition = checkProviderDefinition(input, options.name);
  const refused = (await options.check?.(definition)) ?? [];
  if (refused.length > 0) throw new ValidationError(refused, 'egress_refused');
  return sql.begin(async (tx) => {
    const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
    if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
    return storeDefinition(tx, tenantId, definition, options.actor ?? 'system');
  });
}

/**
 * Inside a transaction that holds the tenant's row lock (saves of one tenant take turns,
 * as version numbers are read, then written): writes `definition` as the next version,
 * or returns the newest when it is the same. For saveProviderDefinition and for a
 * provider saved with an inline definition.
 */
export async function storeDefinition(
  tx: TransactionSql,
  tenantId: string,
  definition: ProviderDefinition,
  actor: string,
): Promise<{ stored: StoredProviderDefinition; created: boolean }> {
  const [previous] = await tx<DefinitionRow[]>`
    SELECT tenant_id, name, version, definition, created_by, created_at FROM provider_definitions
    WHERE tenant_id = ${tenantId} AND name = ${definition.name} ORDER BY version DESC LIMIT 1`;
  if (previous !== undefined && isDeepStrictEqual(previous.definition, definition)) {
    return { stored: toStored(previous), created: false };
  }
  const version = (previous?.version ?? 0) + 1;
  const [row] = await tx<DefinitionRow[]>`
    INSERT INTO provider_definitions (tenant_id, name, version, definition, created_by)
    VALUES (${tenantId}, ${definition.name}, ${version}, ${tx.json(definition as unknown as JSONValue)}, ${actor})
    RETURNING tenant_id, name, version, definition, created_by, created_at`;
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  await writeAudit(tx, {
    tenantId,
    actor,
    action: 'provider_definition.save',
    extra: { name: definition.name, version },
    before: previous?.definition ?? null,
    after: definition,
  });
  return { stored: toStored(row), created: true };
}

/** The newest version of a stored definition, or the given version; null when there is none. */
export async function findProviderDefinition(
  sql: Sql | TransactionSql,
  tenantId: string,
  name: string,
  version?: number,
): Promise<StoredProviderDefinition | null> {
  const rows = await sql<DefinitionRow[]>`
    SELECT tenant_id, name, version, definition, created_by, created_at FROM provider_definitions
    WHERE tenant_id = ${tenantId} AND name = ${name} ${version === undefined ? sql`` : sql`AND version = ${version}`}
    ORDER BY version DESC LIMIT 1`;
  return rows[0] === undefined ? null : toStored(rows[0]);
}

/** Every version of one of the tenant's stored definitions, newest first, without the definitions; [] for none. */
export async function listProviderDefinitionVersions(
  sql: Sql,
  tenantId: string,
  name: string,
): Promise<{ readonly version: number; readonly createdBy: string; readonly createdAt: Date }[]> {
  const rows = await sql<{ version: number; created_by: string; created_at: Date }[]>`
    SELECT version, created_by, created_at FROM provider_definitions
    WHERE tenant_id = ${tenantId} AND name = ${name} ORDER BY version DESC`;
  return rows.map((row) => ({ version: row.version, createdBy: row.created_by, createdAt: row.created_at }));
}

/** The newest version of each of the tenant's stored definitions, by name. */
export async function listProviderDefinitions(sql: Sql, tenantId: string): Promise<StoredProviderDefinition[]> {
  const rows = await sql<DefinitionRow[]>`
    SELECT DISTINCT ON (name) tenant_id, name, version, definition, created_by, created_at
    FROM provider_definitions WHERE tenant_id = ${tenantId} ORDER BY name, version DESC`;
  return rows.map(toStored);
}

/**
 * The definition a tenant's provider sends by (stored at its pinned version, or
 * shipped), e.g. to read a provider's own receipt format. Null when the tenant has no
 * such provider or it has a hand-written adapter (http-sms, smtp, webhook).
 */
export async function resolveProviderDefinition(
  sql: Sql,
  tenantId: string,
  providerId: string,
): Promise<ResolvedProviderDefinition | null> {
  const [row] = await sql<{ kind: string; definition_version: number | null; definition: ProviderDefinition | null }[]>`
    SELECT p.kind, p.definition_version, d.definition FROM providers p
    LEFT JOIN provider_definitions d ON d.tenant_id = p.tenant_id AND d.name = p.kind AND d.version = p.definition_version
    WHERE p.tenant_id = ${tenantId} AND p.id = ${providerId}`;
  if (row === undefined) return null;
  if (row.definition_version !== null && row.definition !== null) {
    return { source: 'stored', name: row.kind, version: row.definition_version, definition: row.definition };
  }
  const shipped = shippedDefinitions().get(row.kind);
  return shipped === undefined ? null : { source: 'shipped', name: row.kind, definition: shipped };
}

function toStored(row: DefinitionRow): StoredProviderDefinition {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    version: row.version,
    definition: row.definition,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}
