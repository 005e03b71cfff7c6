import { isDeepStrictEqual } from 'node:util';
import { NotFoundError, ValidationError, createAjv, toFieldProblems, type FieldProblem } from '@commstrat/core';
import { shippedDefinitions, type ProviderDefinition } from '@commstrat/providers';
import type { JSONValue, Sql, TransactionSql } from 'postgres';
import { writeAudit } from './audit.ts';
import {
  ADAPTER_KINDS,
  checkProviderDefinition,
  findProviderDefinition,
  storeDefinition,
  type StoredProviderDefinition,
} from './provider-definitions.ts';
import { checkProvider, toProvider, type PinnedDefinition, type Provider, type ProviderRow } from './strategies.ts';

/**
 * A provider as the admin API sets it: every field optional. On create, omitted limits
 * take PROVIDER_DEFAULTS; on update, an omitted field keeps its value.
 */
export interface ProviderChange {
  readonly id?: string;
  /** A built-in adapter (http-sms, smtp, webhook), a shipped definition, or one of the tenant's stored definitions. */
  readonly kind?: string;
  /** With a stored definition's `kind`: the version to pin to (default: its newest). */
  readonly definition_version?: number;
  /** A whole definition, saved as a new version of its name (when it changed) and pinned. */
  readonly definition?: unknown;
  readonly endpoint?: string;
  /** Replaces all credentials; a value equal to its mask (as GET shows it) keeps the stored one. */
  readonly credentials?: Readonly<Record<string, string | number | boolean>>;
  readonly rate_per_second?: number;
  readonly concurrency?: number;
  readonly max_batch_size?: number;
  readonly linger_ms?: number;
  readonly timeout_ms?: number;
  readonly enabled?: boolean;
  readonly prices?: Readonly<Record<string, number>>;
}

/** Limits of a new provider whose change leaves them out. */
export const PROVIDER_DEFAULTS = {
  /** messages per second, across all dispatcher replicas */
  ratePerSecond: 10,
  /** requests in flight per dispatcher replica */
  concurrency: 4,
  /** messages per request when the definition says nothing smaller; 1 for webhook */
  maxBatchSize: 100,
  /** ms a part-full batch waits */
  lingerMs: 50,
  /** ms per provider request */
  timeoutMs: 10_000,
} as const;

export interface PutProviderOptions {
  /** Who changes it, for the audit log. Default "system". */
  readonly actor?: string;
  /** Check everything and write nothing: the admin API's validate. */
  readonly dryRun?: boolean;
  /**
   * More checks of the row as it would be saved, with the definition it sends by
   * (`inline`: given in this change): the admin API's egress policy on its endpoint and
   * token URL. Their problems are reported with the others; nothing is written then.
   */
  readonly checkTargets?: (provider: Provider, definition: ProviderDefinition | undefined, inline: boolean) => Promise<FieldProblem[]>;
}

export interface PutProviderResult {
  /** The provider as saved (or as it would be, on a dry run), credentials in full: mask before showing. */
  readonly provider: Provider;
  /** There was no provider of this id before. */
  readonly created: boolean;
  /** Anything differs from before; an unchanged put writes nothing, not even an audit row. */
  readonly changed: boolean;
  /** The inline definition's version, when one was given (`created`: a new version was saved). */
  readonly definition?: { readonly stored: StoredProviderDefinition; readonly created: boolean };
}

const text = { type: 'string', minLength: 1 } as const;
const whole = { type: 'integer' } as const;
const changeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: text,
    kind: { ...text, maxLength: 100 },
    definition_version: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
    definition: {},
    endpoint: { ...text, maxLength: 2000 },
    credentials: {
      type: 'object',
      maxProperties: 50,
      additionalProperties: { type: ['string', 'number', 'boolean'] },
    },
    rate_per_second: whole,
    concurrency: whole,
    max_batch_size: whole,
    linger_ms: whole,
    timeout_ms: whole,
    enabled: { type: 'boolean' },
    prices: { type: 'object', maxProperties: 300, additionalProperties: { type: 'number' } },
  },
} as const;
const validateChange = createAjv({ useDefaults: false, allowUnionTypes: true }).compile<ProviderChange>(changeSchema);

/** checkProvider names Provider's fields; the API's are snake_case. */
const API_PATHS: Readonly<Record<string, string>> = {
  '/ratePerSecond': '/rate_per_second',
  '/maxBatchSize': '/max_batch_size',
  '/lingerMs': '/linger_ms',
  '/timeoutMs': '/timeout_ms',
};

const SELECT_PROVIDER = (sql: Sql | TransactionSql) => sql`
  SELECT p.id, p.kind, p.endpoint, p.credentials, p.rate_per_second, p.concurrency, p.max_batch_size,
         p.linger_ms, p.timeout_ms, p.enabled, p.prices, p.definition_version, d.definition
  FROM providers p
  LEFT JOIN provider_definitions d ON d.tenant_id = p.tenant_id AND d.name = p.kind AND d.version = p.definition_version`;

/** The tenant's providers, by id, each with its pinned stored definition when it has one. */
export async function listTenantProviders(sql: Sql, tenantId: string): Promise<Provider[]> {
  const rows = await sql<ProviderRow[]>`${SELECT_PROVIDER(sql)} WHERE p.tenant_id = ${tenantId} ORDER BY p.id`;
  return rows.map(toProvider);
}

/** One provider of the tenant, or null. */
export async function findProvider(sql: Sql | TransactionSql, tenantId: string, id: string): Promise<Provider | null> {
  const [row] = await sql<ProviderRow[]>`${SELECT_PROVIDER(sql)} WHERE p.tenant_id = ${tenantId} AND p.id = ${id}`;
  return row === undefined ? null : toProvider(row);
}

/**
 * Creates or changes a provider of the tenant from an admin API body, in one
 * transaction with its audit row (`provider.upsert`, credentials masked before and
 * after) and, for an inline `definition`, with that definition's new version: nothing is
 * half-applied. Throws ValidationError listing every problem with its API path
 * (`/rate_per_second`, `/definition/send/method`, …), NotFoundError for an unknown tenant.
 */
export async function putProvider(
  sql: Sql,
  tenantId: string,
  id: string,
  body: unknown,
  options: PutProviderOptions = {},
): Promise<PutProviderResult> {
  if (!validateChange(body)) throw new ValidationError(toFieldProblems(validateChange.errors));
  const change = body;
  const actor = options.actor ?? 'system';
  return sql.begin(async (tx) => {
    // Saves of one tenant take turns, as definition versions are read, then written.
    const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
    if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
    const existing = await findProvider(tx, tenantId, id);
    const problems: FieldProblem[] = [];
    if (change.id !== undefined && change.id !== id) problems.push({ path: '/id', message: `must be "${id}", the id it is saved under` });
    const target = await resolveDefinition(tx, tenantId, change, existing, problems);
    const next = merge(id, change, existing, target);
    // With no kind to check, resolveDefinition has said why already.
    problems.push(...providerProblems(next, target.definition).filter((p) => target.kind !== undefined || p.path !== '/kind'));
    if (problems.length > 0) throw new ValidationError(problems);
    const refused = (await options.checkTargets?.(next, target.definition, target.inline !== undefined)) ?? [];
    if (refused.length > 0) throw new ValidationError(refused, 'egress_refused');

    let saved: PutProviderResult['definition'];
    let pinned = target.pinned;
    if (target.inline !== undefined) {
      saved = options.dryRun === true ? await wouldStore(tx, tenantId, target.inline) : await storeDefinition(tx, tenantId, target.inline, actor);
      pinned = { version: saved.stored.version, definition: target.inline };
    }
    const provider: Provider = { ...next, ...(pinned === undefined ? {} : { storedDefinition: pinned }) };
    const changed = existing === null || !isDeepStrictEqual(comparable(existing), comparable(provider));
    if (changed && options.dryRun !== true) {
      await writeProvider(tx, tenantId, provider);
      await writeAudit(tx, {
        tenantId,
        actor,
        action: 'provider.upsert',
        extra: { id },
        before: existing === null ? null : maskedRecord(existing),
        after: maskedRecord(provider),
      });
    }
    return { provider, created: existing === null, changed, ...(saved === undefined ? {} : { definition: saved }) };
  });
}

/**
 * What `credentials` look like in an answer or the audit log: each value as `****`, and
 * its last 4 characters when it is long enough (16 or more) that they give little away.
 */
export function maskCredentials(credentials: Readonly<Record<string, unknown>>): Record<string, string> {
  return Object.fromEntries(Object.entries(credentials).map(([name, value]) => [name, mask(value)]));
}

/** Where a provider's definition comes from, for the API: `adapter` kinds have none. */
export function definitionSource(provider: Provider): 'adapter' | 'shipped' | 'stored' | 'unknown' {
  if (provider.storedDefinition !== undefined) return 'stored';
  if (ADAPTER_KINDS.includes(provider.kind)) return 'adapter';
  return shippedDefinitions().has(provider.kind) ? 'shipped' : 'unknown';
}

interface Target {
  readonly kind: string | undefined;
  /** The definition it will send by, for the checks against the row (none for built-in adapters). */
  readonly definition: ProviderDefinition | undefined;
  /** A stored version to pin to. */
  readonly pinned: PinnedDefinition | undefined;
  /** An inline definition to save and pin to. */
  readonly inline: ProviderDefinition | undefined;
}

/**
 * Which definition the provider will send by. An inline definition wins; a `kind` with
 * `definition_version` pins that stored version; a `kind` alone pins the newest stored
 * version of that name, or else means a built-in adapter or shipped definition; no
 * `kind` keeps the provider's pin (or re-pins it to `definition_version`).
 */
async function resolveDefinition(
  tx: TransactionSql,
  tenantId: string,
  change: ProviderChange,
  existing: Provider | null,
  problems: FieldProblem[],
): Promise<Target> {
  if (change.definition !== undefined) {
    let inline: ProviderDefinition | undefined;
    try {
      inline = checkProviderDefinition(change.definition);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(...error.problems.map((p) => ({ ...p, path: `/definition${p.path}` })));
    }
    if (change.kind !== undefined && inline !== undefined && change.kind !== inline.name) {
      problems.push({ path: '/kind', message: `must be "${inline.name}", the inline definition's name, or left out` });
    }
    if (change.definition_version !== undefined) {
      problems.push({ path: '/definition_version', message: 'cannot be given with an inline definition: it gets the next version' });
    }
    return { kind: inline?.name, definition: inline, pinned: undefined, inline };
  }
  const kind = change.kind ?? existing?.kind;
  if (kind === undefined) {
    problems.push({ path: '/kind', message: 'is required (or an inline definition) for a new provider' });
    return { kind, definition: undefined, pinned: undefined, inline: undefined };
  }
  const none = { kind, definition: undefined, pinned: undefined, inline: undefined };
  if (change.definition_version !== undefined) {
    const found = await findProviderDefinition(tx, tenantId, kind, change.definition_version);
    if (found === null) {
      problems.push({ path: '/definition_version', message: `no stored definition "${kind}" has version ${change.definition_version}` });
      return none;
    }
    return { ...none, definition: found.definition, pinned: { version: found.version, definition: found.definition } };
  }
  if (change.kind === undefined && existing?.storedDefinition !== undefined) {
    return { ...none, definition: existing.storedDefinition.definition, pinned: existing.storedDefinition };
  }
  if (ADAPTER_KINDS.includes(kind)) return none;
  const newest = await findProviderDefinition(tx, tenantId, kind);
  if (newest !== null) return { ...none, definition: newest.definition, pinned: { version: newest.version, definition: newest.definition } };
  const shipped = shippedDefinitions().get(kind);
  if (shipped !== undefined) return { ...none, definition: shipped };
  problems.push({ path: '/kind', message: `names no built-in adapter (${ADAPTER_KINDS.join(', ')}), shipped definition or stored definition of this tenant: ${kind}` });
  return none;
}

function merge(id: string, change: ProviderChange, existing: Provider | null, target: Target): Provider {
  const kind = target.kind ?? '';
  const defaultBatch = Math.min(target.definition?.send.max_batch_size ?? PROVIDER_DEFAULTS.maxBatchSize, kind === 'webhook' ? 1 : PROVIDER_DEFAULTS.maxBatchSize);
  return {
    id,
    kind,
    endpoint: change.endpoint ?? existing?.endpoint ?? '',
    credentials: mergeCredentials(change.credentials, existing?.credentials ?? {}),
    ratePerSecond: change.rate_per_second ?? existing?.ratePerSecond ?? PROVIDER_DEFAULTS.ratePerSecond,
    concurrency: change.concurrency ?? existing?.concurrency ?? PROVIDER_DEFAULTS.concurrency,
    maxBatchSize: change.max_batch_size ?? existing?.maxBatchSize ?? defaultBatch,
    lingerMs: change.linger_ms ?? existing?.lingerMs ?? PROVIDER_DEFAULTS.lingerMs,
    timeoutMs: change.timeout_ms ?? existing?.timeoutMs ?? PROVIDER_DEFAULTS.timeoutMs,
    enabled: change.enabled ?? existing?.enabled ?? true,
    prices: change.prices ?? existing?.prices ?? {},
  };
}

/** Given credentials replace the stored ones, except a value sent back as its own mask. */
function mergeCredentials(
  given: ProviderChange['credentials'],
  stored: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  if (given === undefined) return stored;
  return Object.fromEntries(
    Object.entries(given).map(([name, value]) =>
      name in stored && value === mask(stored[name]) ? [name, stored[name]] : [name, value],
    ),
  );
}

/** checkProvider's problems in API paths, and what only a definition can say about the row. */
function providerProblems(provider: Provider, definition: ProviderDefinition | undefined): FieldProblem[] {
  const problems: FieldProblem[] = [];
  try {
    checkProvider(provider);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    problems.push(...error.problems.map((p) => ({ ...p, path: API_PATHS[p.path] ?? p.path })));
  }
  if (definition !== undefined) {
    if (provider.maxBatchSize > definition.send.max_batch_size) {
      problems.push({ path: '/max_batch_size', message: `must be at most ${definition.send.max_batch_size}, the ${definition.name} definition's max_batch_size` });
    }
    if (provider.endpoint !== '' && !isHttpUrl(provider.endpoint)) {
      problems.push({ path: '/endpoint', message: 'must be an http:// or https:// URL for a declarative provider' });
    }
  }
  return problems;
}

/** What storeDefinition would return, writing nothing. */
async function wouldStore(
  tx: TransactionSql,
  tenantId: string,
  definition: ProviderDefinition,
): Promise<{ stored: StoredProviderDefinition; created: boolean }> {
  const newest = await findProviderDefinition(tx, tenantId, definition.name);
  if (newest !== null && isDeepStrictEqual(newest.definition, definition)) return { stored: newest, created: false };
  const stored = { tenantId, name: definition.name, version: (newest?.version ?? 0) + 1, definition, createdBy: '', createdAt: new Date() };
  return { stored, created: true };
}

async function writeProvider(tx: TransactionSql, tenantId: string, p: Provider): Promise<void> {
  await tx`
    INSERT INTO providers (tenant_id, id, kind, endpoint, credentials, rate_per_second, concurrency,
                           max_batch_size, linger_ms, timeout_ms, enabled, prices, definition_version)
    VALUES (${tenantId}, ${p.id}, ${p.kind}, ${p.endpoint}, ${tx.json(p.credentials as JSONValue)}, ${p.ratePerSecond},
            ${p.concurrency}, ${p.maxBatchSize}, ${p.lingerMs}, ${p.timeoutMs}, ${p.enabled}, ${tx.json(p.prices)},
            ${p.storedDefinition?.version ?? null})
    ON CONFLICT (tenant_id, id) DO UPDATE SET
      kind = EXCLUDED.kind, endpoint = EXCLUDED.endpoint, credentials = EXCLUDED.credentials,
      rate_per_second = EXCLUDED.rate_per_second, concurrency = EXCLUDED.concurrency,
      max_batch_size = EXCLUDED.max_batch_size, linger_ms = EXCLUDED.linger_ms, timeout_ms = EXCLUDED.timeout_ms,
      enabled = EXCLUDED.enabled, prices = EXCLUDED.prices, definition_version = EXCLUDED.definition_version,
      updated_at = now()`;
}

/** A provider as compared for "changed": the pinned version, not the definition it carries. */
function comparable(provider: Provider): unknown {
  const { storedDefinition, ...rest } = provider;
  return { ...rest, definitionVersion: storedDefinition?.version ?? null };
}

/** A provider as the audit log keeps it: no secret in full. */
function maskedRecord(provider: Provider): Record<string, unknown> {
  const { storedDefinition, credentials, ...rest } = provider;
  return { ...rest, credentials: maskCredentials(credentials), definitionVersion: storedDefinition?.version ?? null };
}

function mask(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length >= 16 ? `****${text.slice(-4)}` : '****';
}

function isHttpUrl(value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
