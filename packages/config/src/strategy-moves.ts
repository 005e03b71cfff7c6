import { NotFoundError, ValidationError, type FieldProblem } from '@commstrat/core';
import type { Sql } from 'postgres';
import { writeAudit } from './audit.ts';

/**
 * Most moves a pinned version is followed through (v1 → v2 → v3 is two). The store
 * refuses a move that would make a longer chain, so the routing cache never walks
 * further; a chain written by hand past it is routed by the version it was pinned to.
 */
export const MAX_MOVE_CHAIN = 8;

/** One strategy's moves: moved_to_version by version (migration 011). */
export type StrategyMoves = ReadonlyMap<number, number>;

/** Where a message pinned to `version` is routed, after its moves. */
export interface MoveTarget {
  readonly version: number;
  /** The moves followed to get there (0: not moved). */
  readonly hops: number;
  /** The chain comes back on itself or runs past MAX_MOVE_CHAIN: `version` is the pinned one. */
  readonly broken: boolean;
}

/** Follows `version` through `moves` to the version that routes it now. */
export function followMoves(moves: StrategyMoves | undefined, version: number): MoveTarget {
  const seen = new Set([version]);
  let current = version;
  for (let hops = 0; ; hops++) {
    const next = moves?.get(current);
    if (next === undefined) return { version: current, hops, broken: false };
    if (seen.has(next) || hops >= MAX_MOVE_CHAIN) return { version, hops: 0, broken: true };
    seen.add(next);
    current = next;
  }
}

export interface MoveStrategyRequest {
  readonly fromVersion: number;
  /** Default: the newest version. */
  readonly toVersion?: number;
  /** Who moves, for the audit log. Default "system". */
  readonly actor?: string;
}

export interface StrategyMove {
  readonly name: string;
  readonly fromVersion: number;
  readonly toVersion: number;
}

interface VersionRow {
  version: number;
  channel: string;
  steps: number;
  moved_to_version: number | null;
}

/**
 * The operator's request that messages pinned to `fromVersion` of a strategy continue
 * with `toVersion` (default: the newest) from their next routing decision. Moving a
 * version again replaces its target. Audited as `strategy.move` (before and after: the
 * version's target) in the same transaction; every replica's routing cache takes it by
 * NOTIFY. Throws NotFoundError for an unknown name or version, ValidationError naming
 * `/to_version` (or `/from_version` when it is the newest and no target is given) for a
 * move onto itself, onto another channel, onto fewer steps, into a cycle or past
 * MAX_MOVE_CHAIN.
 */
export async function moveStrategyVersion(
  sql: Sql,
  tenantId: string,
  name: string,
  request: MoveStrategyRequest,
): Promise<StrategyMove> {
  const { fromVersion } = request;
  return sql.begin(async (tx) => {
    // Moves and saves of one tenant take turns, so two moves cannot close a cycle
    // between them. NO KEY UPDATE does not block api_keys inserts.
    const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
    if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
    const rows = await tx<VersionRow[]>`
      SELECT version, channel, jsonb_array_length(definition -> 'steps') AS steps, moved_to_version FROM strategies
      WHERE tenant_id = ${tenantId} AND name = ${name} ORDER BY version`;
    const byVersion = new Map(rows.map((row) => [row.version, row]));
    const from = byVersion.get(fromVersion);
    if (from === undefined) throw new NotFoundError(`strategy ${name} version ${fromVersion}`);
    const toVersion = request.toVersion ?? rows[rows.length - 1]?.version ?? fromVersion;
    const to = byVersion.get(toVersion);
    if (to === undefined) throw new NotFoundError(`strategy ${name} version ${toVersion}`);
    const problem = moveProblem(rows, from, to, request.toVersion === undefined);
    if (problem !== undefined) throw new ValidationError([problem]);
    await tx`UPDATE strategies SET moved_to_version = ${toVersion}
             WHERE tenant_id = ${tenantId} AND name = ${name} AND version = ${fromVersion}`;
    await writeAudit(tx, {
      tenantId,
      actor: request.actor ?? 'system',
      action: 'strategy.move',
      before: { moved_to_version: from.moved_to_version },
      after: { moved_to_version: toVersion },
      extra: { name, version: fromVersion },
    });
    return { name, fromVersion, toVersion };
  });
}

function moveProblem(rows: readonly VersionRow[], from: VersionRow, to: VersionRow, defaulted: boolean): FieldProblem | undefined {
  if (from.version === to.version) {
    return defaulted
      ? { path: '/from_version', message: `is the newest version; give to_version to move it to an older one` }
      : { path: '/to_version', message: 'must differ from from_version' };
  }
  if (from.channel !== to.channel) {
    return { path: '/to_version', message: `sends on ${to.channel}, version ${from.version} on ${from.channel}` };
  }
  // A message keeps its step index across the move: one on a step the target lacks could only fail.
  if (to.steps < from.steps) {
    return { path: '/to_version', message: `has ${to.steps} steps, version ${from.version} has ${from.steps}: messages on the later steps could not continue` };
  }
  const moves = new Map<number, number>();
  for (const row of rows) if (row.moved_to_version !== null) moves.set(row.version, row.moved_to_version);
  moves.set(from.version, to.version);
  // Every version whose chain now runs through this move, not only this one.
  if (rows.some((row) => followMoves(moves, row.version).broken)) {
    return { path: '/to_version', message: `would make a cycle or a chain of more than ${MAX_MOVE_CHAIN} moves` };
  }
  return undefined;
}
