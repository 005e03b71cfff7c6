import { isDeepStrictEqual } from 'node:util';
import {
  NotFoundError,
  ValidationError,
  routeProviderRefs,
  validateStrategy,
  type Channel,
  type FieldProblem,
  type PriceTable,
  type Strategy,
} from '@commstrat/core';
import type { ProviderDefinition } from '@commstrat/providers';
import type { JSONValue, Sql, TransactionSql } from 'postgres';

/** A configured integration with a delivery provider, as the dispatcher needs it. */
export interface Provider {
  /** The tenant's name for it, e.g. "sandbox-sms"; unique per tenant. */
  readonly id: string;
  /** Adapter kind, e.g. "http-sms". */
  readonly kind: string;
  /** Where the adapter sends, e.g. "https://api.example.com". */
  readonly endpoint: string;
  /** Adapter-specific secrets, e.g. { token }. Never log or journal them. */
  readonly credentials: Readonly<Record<string, unknown>>;
  /** Most messages per second, across all dispatcher replicas. */
  readonly ratePerSecond: number;
  /** Most requests in flight at once to this provider from one dispatcher replica. */
  readonly concurrency: number;
  /** Most messages per provider request. */
  readonly maxBatchSize: number;
  /** How long a part-full batch may wait for more messages, in ms. */
  readonly lingerMs: number;
  /** Time limit of one provider request, in ms. */
  readonly timeoutMs: number;
  /** A disabled provider is never chosen; its strategies fail over past it. */
  readonly enabled: boolean;
  /** Price per message by recipient country, `*` for any other, for least_cost routes. */
  readonly prices: PriceTable;
  /**
   * Set when it sends by one of the tenant's stored definitions (`kind` is its name):
   * the version it is pinned to, with that version's definition (provider-definitions.ts).
   */
  readonly storedDefinition?: PinnedDefinition;
}

/** A stored provider definition at the version a provider is pinned to. */
export interface PinnedDefinition {
  readonly version: number;
  readonly definition: ProviderDefinition;
}

/** What upsertProvider takes: a Provider; `enabled` defaults to true, `prices` to none. */
export type ProviderInput = Omit<Provider, 'enabled' | 'prices'> & {
  readonly enabled?: boolean;
  readonly prices?: PriceTable;
};

/** One saved version of a strategy. */
export interface StoredStrategy {
  readonly tenantId: string;
  /** 1 for the first save of a name, then +1 per save. */
  readonly version: number;
  /** Whether this is the tenant's default strategy for its channel. */
  readonly defaultForChannel: boolean;
  readonly createdAt: Date;
  readonly strategy: Strategy;
}

export interface SaveStrategyOptions {
  /**
   * true: make it the channel's default (replacing any other); false: make it not the
   * default. Absent: keep what the previous version was, if the channel is unchanged.
   */
  readonly defaultForChannel?: boolean;
  /** Who saves, for the audit log. Default "system". */
  readonly actor?: string;
}

/** What a save is audited as: a new definition, or an old version saved again. */
type SaveAudit = { readonly action: 'strategy.save' } | { readonly action: 'strategy.rollback'; readonly rolledBackTo: number };

const MAX_INT = 2_147_483_647; // PostgreSQL integer
const PRICE_KEY = /^([A-Z]{2}|\*)$/;
const PROVIDER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The columns of a providers row that make a Provider. */
export interface ProviderRow {
  id: string;
  kind: string;
  endpoint: string;
  credentials: Record<string, unknown>;
  rate_per_second: number;
  concurrency: number;
  max_batch_size: number;
  linger_ms: number;
  timeout_ms: number;
  enabled: boolean;
  prices: PriceTable;
  /** Read only by the queries that join provider_definitions (migration 009). */
  definition_version?: number | null;
  definition?: ProviderDefinition | null;
}

export interface StrategyRow {
  tenant_id: string;
  version: number;
  definition: Strategy;
  is_default_for_channel: boolean;
  created_at: Date;
}

/**
 * Creates or replaces a provider of the tenant. Throws ValidationError naming each bad
 * field. Writes an audit record only when something changed, so repeating is harmless.
 */
export async function upsertProvider(
  sql: Sql,
  tenantId: string,
  input: ProviderInput,
  actor = 'system',
): Promise<Provider> {
  const provider: Provider = { ...input, enabled: input.enabled ?? true, prices: input.prices ?? {} };
  checkProvider(provider);
  await sql.begin(async (tx) => {
    const changed = await tx`
      INSERT INTO providers (tenant_id, id, kind, endpoint, credentials, rate_per_second, concurrency,
                             max_batch_size, linger_ms, timeout_ms, enabled, prices)
      VALUES (${tenantId}, ${provider.id}, ${provider.kind}, ${provider.endpoint},
              ${tx.json(provider.credentials as JSONValue)}, ${provider.ratePerSecond}, ${provider.concurrency},
              ${provider.maxBatchSize}, ${provider.lingerMs}, ${provider.timeoutMs}, ${provider.enabled},
              ${tx.json(provider.prices)})
      ON CONFLICT (tenant_id, id) DO UPDATE SET
        kind = EXCLUDED.kind, endpoint = EXCLUDED.endpoint, credentials = EXCLUDED.credentials,
        rate_per_second = EXCLUDED.rate_per_second, concurrency = EXCLUDED.concurrency,
        max_batch_size = EXCLUDED.max_batch_size, linger_ms = EXCLUDED.linger_ms,
        timeout_ms = EXCLUDED.timeout_ms, enabled = EXCLUDED.enabled, prices = EXCLUDED.prices,
        updated_at = now()
      WHERE (providers.kind, providers.endpoint, providers.credentials, providers.rate_per_second,
             providers.concurrency, providers.max_batch_size, providers.linger_ms, providers.timeout_ms,
             providers.enabled, providers.prices)
        IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.endpoint, EXCLUDED.credentials, EXCLUDED.rate_per_second,
             EXCLUDED.concurrency, EXCLUDED.max_batch_size, EXCLUDED.linger_ms, EXCLUDED.timeout_ms,
             EXCLUDED.enabled, EXCLUDED.prices)
      RETURNING id`;
    if (changed.length > 0) {
      // Credentials stay out of the audit log.
      await tx`INSERT INTO audit (tenant_id, actor, action, details)
               VALUES (${tenantId}, ${actor}, 'provider.upsert', ${tx.json({ id: provider.id, kind: provider.kind })})`;
    }
  });
  return provider;
}

/** The tenant's providers, by id. */
export async function listProviders(sql: Sql, tenantId: string): Promise<Provider[]> {
  const rows = await sql<ProviderRow[]>`
    SELECT id, kind, endpoint, credentials, rate_per_second, concurrency, max_batch_size,
           linger_ms, timeout_ms, enabled, prices
    FROM providers WHERE tenant_id = ${tenantId} ORDER BY id`;
  return rows.map(toProvider);
}

/** A providers row as the Provider it describes. */
export function toProvider(row: ProviderRow): Provider {
  return {
    id: row.id,
    kind: row.kind,
    endpoint: row.endpoint,
    credentials: row.credentials,
    ratePerSecond: row.rate_per_second,
    concurrency: row.concurrency,
    maxBatchSize: row.max_batch_size,
    lingerMs: row.linger_ms,
    timeoutMs: row.timeout_ms,
    enabled: row.enabled,
    prices: row.prices,
    ...(row.definition_version != null && row.definition != null
      ? { storedDefinition: { version: row.definition_version, definition: row.definition } }
      : {}),
  };
}

/**
 * Saves `input` as the next version of its name (newest + 1). Validates it first
 * (validateStrategy), then checks every provider it routes to exists for the tenant;
 * throws ValidationError with JSON-pointer paths, NotFoundError for an unknown tenant.
 */
export async function saveStrategy(
  sql: Sql,
  tenantId: string,
  input: unknown,
  options: SaveStrategyOptions = {},
): Promise<StoredStrategy> {
  return save(sql, tenantId, validateStrategy(input), options, false);
}

/**
 * Like saveStrategy, but leaves things as they are when the newest version already has
 * the same definition (and default flag, if one is asked for). For seeding and for
 * applying configuration files repeatedly without piling up versions.
 */
export async function ensureStrategy(
  sql: Sql,
  tenantId: string,
  input: unknown,
  options: SaveStrategyOptions = {},
): Promise<StoredStrategy> {
  return save(sql, tenantId, validateStrategy(input), options, true);
}

/**
 * Checks a strategy as saveStrategy would (schema, rules, providers of the tenant) and
 * writes nothing: the admin API's validate. Returns it with defaults filled in.
 */
export async function checkStrategy(sql: Sql, tenantId: string, input: unknown): Promise<Strategy> {
  const strategy = validateStrategy(input);
  await sql.begin(async (tx) => {
    const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId}`;
    if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
    await checkProvidersExist(tx, tenantId, strategy);
  });
  return strategy;
}

/** The newest version of each of the tenant's strategies, by name. */
export async function listStrategies(sql: Sql, tenantId: string): Promise<StoredStrategy[]> {
  const rows = await sql<StrategyRow[]>`
    SELECT DISTINCT ON (name) tenant_id, version, definition, is_default_for_channel, created_at
    FROM strategies WHERE tenant_id = ${tenantId} ORDER BY name, version DESC`;
  return rows.map(toStored);
}

/** One version of a strategy as a list of versions shows it: no definition. */
export interface StrategyVersion {
  readonly version: number;
  readonly channel: string;
  readonly defaultForChannel: boolean;
  readonly createdAt: Date;
}

/** Every version of one of the tenant's strategies, newest first; [] when the name has none. */
export async function listStrategyVersions(sql: Sql, tenantId: string, name: string): Promise<StrategyVersion[]> {
  const rows = await sql<{ version: number; channel: string; is_default_for_channel: boolean; created_at: Date }[]>`
    SELECT version, channel, is_default_for_channel, created_at FROM strategies
    WHERE tenant_id = ${tenantId} AND name = ${name} ORDER BY version DESC`;
  return rows.map((row) => ({ version: row.version, channel: row.channel, defaultForChannel: row.is_default_for_channel, createdAt: row.created_at }));
}

/** The newest version of a strategy, or the given version; null when there is none. */
export async function findStrategy(
  sql: Sql,
  tenantId: string,
  name: string,
  version?: number,
): Promise<StoredStrategy | null> {
  const rows = await sql<StrategyRow[]>`
    SELECT tenant_id, version, definition, is_default_for_channel, created_at FROM strategies
    WHERE tenant_id = ${tenantId} AND name = ${name} ${version === undefined ? sql`` : sql`AND version = ${version}`}
    ORDER BY version DESC LIMIT 1`;
  return rows[0] === undefined ? null : toStored(rows[0]);
}

/** The tenant's default strategy for a channel (its newest version), or null. */
export async function findDefaultStrategy(
  sql: Sql,
  tenantId: string,
  channel: Channel,
): Promise<StoredStrategy | null> {
  const rows = await sql<StrategyRow[]>`
    SELECT tenant_id, version, definition, is_default_for_channel, created_at FROM strategies
    WHERE tenant_id = ${tenantId} AND channel = ${channel} AND is_default_for_channel`;
  return rows[0] === undefined ? null : toStored(rows[0]);
}

/**
 * Saves version `toVersion` of the strategy again, as a new version (newest + 1):
 * versions are never rewritten, so a message journaled with any version can still be
 * explained. Audited as `strategy.rollback` with the definition before and after. The
 * old definition is checked as a new one would be (a provider it routes to may be gone:
 * ValidationError). The default flag stays as the newest version has it. Throws
 * NotFoundError when the version does not exist.
 */
export async function rollbackStrategy(
  sql: Sql,
  tenantId: string,
  name: string,
  toVersion: number,
  options: SaveStrategyOptions = {},
): Promise<StoredStrategy> {
  return sql.begin(async (tx) => {
    const [old] = await tx<StrategyRow[]>`
      SELECT tenant_id, version, definition, is_default_for_channel, created_at FROM strategies
      WHERE tenant_id = ${tenantId} AND name = ${name} AND version = ${toVersion}`;
    if (old === undefined) throw new NotFoundError(`strategy ${name} version ${toVersion}`);
    return saveIn(tx, tenantId, validateStrategy(old.definition), options, false, {
      action: 'strategy.rollback',
      rolledBackTo: toVersion,
    });
  });
}

async function save(
  sql: Sql,
  tenantId: string,
  strategy: Strategy,
  options: SaveStrategyOptions,
  keepIfUnchanged: boolean,
): Promise<StoredStrategy> {
  return sql.begin((tx) => saveIn(tx, tenantId, strategy, options, keepIfUnchanged, { action: 'strategy.save' }));
}

async function saveIn(
  tx: TransactionSql,
  tenantId: string,
  strategy: Strategy,
  options: SaveStrategyOptions,
  keepIfUnchanged: boolean,
  audit: SaveAudit,
): Promise<StoredStrategy> {
  // Saves of one tenant take turns: version numbers and the one-default-per-channel
  // flag are read, then written. NO KEY UPDATE does not block api_keys inserts.
  const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
  if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
  const [previous] = await tx<StrategyRow[]>`
    SELECT tenant_id, version, definition, is_default_for_channel, created_at FROM strategies
    WHERE tenant_id = ${tenantId} AND name = ${strategy.name} ORDER BY version DESC LIMIT 1`;
  if (
    keepIfUnchanged &&
    previous !== undefined &&
    isDeepStrictEqual(previous.definition, strategy) &&
    (options.defaultForChannel === undefined ||
      options.defaultForChannel === previous.is_default_for_channel)
  ) {
    return toStored(previous);
  }
  await checkProvidersExist(tx, tenantId, strategy);
  const isDefault =
    options.defaultForChannel ??
    (previous?.is_default_for_channel === true &&
      previous.definition.channel === strategy.channel);
  // The flag lives on the newest version only: clear it from older versions of this
  // name, and from whichever strategy was the channel's default if this one takes over.
  await tx`UPDATE strategies SET is_default_for_channel = false
           WHERE tenant_id = ${tenantId} AND is_default_for_channel
             AND (name = ${strategy.name} OR (${isDefault} AND channel = ${strategy.channel}))`;
  const version = (previous?.version ?? 0) + 1;
  const [row] = await tx<StrategyRow[]>`
    INSERT INTO strategies (tenant_id, name, version, channel, definition, is_default_for_channel)
    VALUES (${tenantId}, ${strategy.name}, ${version}, ${strategy.channel},
            ${tx.json(strategy as unknown as JSONValue)}, ${isDefault})
    RETURNING tenant_id, version, definition, is_default_for_channel, created_at`;
  await tx`INSERT INTO audit (tenant_id, actor, action, details)
           VALUES (${tenantId}, ${options.actor ?? 'system'}, ${audit.action},
                   ${tx.json({
                     name: strategy.name,
                     version,
                     default_for_channel: isDefault,
                     ...(audit.action === 'strategy.rollback' ? { rolled_back_to: audit.rolledBackTo } : {}),
                     // Before and after, so the audit log alone says what changed.
                     before: (previous?.definition ?? null) as unknown as JSONValue,
                     after: strategy as unknown as JSONValue,
                   })})`;
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  return toStored(row);
}

/** Refuses a strategy that routes to a provider the tenant does not have, naming where. */
async function checkProvidersExist(
  tx: TransactionSql,
  tenantId: string,
  strategy: Strategy,
): Promise<void> {
  const known = new Set(
    (await tx<{ id: string }[]>`SELECT id FROM providers WHERE tenant_id = ${tenantId}`).map(
      (r) => r.id,
    ),
  );
  const problems: FieldProblem[] = [];
  strategy.steps.forEach((step, s) => {
    for (const { id, path } of routeProviderRefs(step.route)) {
      if (!known.has(id)) {
        problems.push({ path: `/steps/${s}/route${path}`, message: `names no provider of this tenant: ${id}` });
      }
    }
  });
  if (problems.length > 0) throw new ValidationError(problems);
}

/**
 * What a kind of adapter needs of its row, checked on save so that a bad row is refused
 * with its field path instead of failing each send in the dispatcher.
 */
function kindProblems(provider: Provider): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const text = (name: string) => provider.credentials[name];
  const urlWith = (protocols: readonly string[]): boolean => {
    try {
      return protocols.includes(new URL(provider.endpoint).protocol);
    } catch {
      return false;
    }
  };
  if (provider.kind === 'smtp') {
    if (!urlWith(['smtp:', 'smtps:'])) {
      problems.push({ path: '/endpoint', message: 'must be an smtp:// or smtps:// URL for kind smtp' });
    }
    const from = text('from');
    if (typeof from !== 'string' || !from.includes('@')) {
      problems.push({ path: '/credentials/from', message: 'must be the sender address for kind smtp' });
    }
    for (const name of ['user', 'password']) {
      if (text(name) !== undefined && typeof text(name) !== 'string') {
        problems.push({ path: `/credentials/${name}`, message: 'must be a string' });
      }
    }
  }
  if (provider.kind === 'webhook') {
    if (!urlWith(['http:', 'https:'])) {
      problems.push({ path: '/endpoint', message: 'must be an http:// or https:// URL for kind webhook' });
    }
    const secret = text('secret');
    if (typeof secret !== 'string' || secret.length < 16) {
      problems.push({ path: '/credentials/secret', message: 'must be a signing secret of at least 16 characters for kind webhook' });
    }
    // One delivery per request: a retry after a failure then repeats that one only.
    if (provider.maxBatchSize !== 1) {
      problems.push({ path: '/maxBatchSize', message: 'must be 1 for kind webhook' });
    }
  }
  return problems;
}

/** Refuses a provider row that could not send, naming each bad field (camelCase paths). */
export function checkProvider(provider: Provider): void {
  const problems: FieldProblem[] = [];
  if (!PROVIDER_ID.test(provider.id)) {
    problems.push({
      path: '/id',
      message: 'must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit',
    });
  }
  if (provider.kind.length === 0) problems.push({ path: '/kind', message: 'must not be empty' });
  if (provider.endpoint.length === 0)
    problems.push({ path: '/endpoint', message: 'must not be empty' });
  problems.push(...kindProblems(provider));
  const limits = [
    ['ratePerSecond', provider.ratePerSecond, 1],
    ['concurrency', provider.concurrency, 1],
    ['maxBatchSize', provider.maxBatchSize, 1],
    ['lingerMs', provider.lingerMs, 0],
    ['timeoutMs', provider.timeoutMs, 1],
  ] as const;
  for (const [field, value, minimum] of limits) {
    if (!Number.isInteger(value) || value < minimum || value > MAX_INT) {
      problems.push({
        path: `/${field}`,
        message: `must be a whole number of at least ${minimum}`,
      });
    }
  }
  for (const [country, price] of Object.entries(provider.prices)) {
    if (!PRICE_KEY.test(country)) {
      problems.push({ path: `/prices/${country}`, message: 'must be keyed by an ISO 3166-1 alpha-2 country code, e.g. "DE", or "*"' });
    } else if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
      problems.push({ path: `/prices/${country}`, message: 'must be a number of at least 0' });
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
}

function toStored(row: StrategyRow): StoredStrategy {
  return {
    tenantId: row.tenant_id,
    version: row.version,
    defaultForChannel: row.is_default_for_channel,
    createdAt: row.created_at,
    strategy: row.definition,
  };
}
