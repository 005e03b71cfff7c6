import { DependencyUnavailableError, ValidationError, type Channel, type Strategy } from '@commstrat/core';
import type { Sql } from 'postgres';
import { CONFIG_CHANNEL, loadSnapshots, type Routing, type TenantSnapshot, type TenantTemplates } from './config-snapshot.ts';
import { findStrategy } from './strategies.ts';
import { followMoves } from './strategy-moves.ts';

export type { Routing, TenantTemplates } from './config-snapshot.ts';

export interface RoutingCacheOptions {
  /**
   * How often every tenant held is read again, ms. With LISTEN/NOTIFY a change arrives
   * at once; this bounds how long a missed notification can leave a replica behind.
   * Default 10 000.
   */
  readonly refreshMs?: number;
  /**
   * How long a tenant's last known configuration keeps being served while PostgreSQL
   * cannot be read, ms. Past it resolve throws DependencyUnavailableError, so messages
   * wait in the delayed set instead of going out by a configuration that old.
   * Default 86 400 000 (24 h).
   */
  readonly maxStaleMs?: number;
  /**
   * How long a read may take before it counts as failed, ms (it may still land later):
   * a server that stopped answering holds a query for ever otherwise. Default 3 000.
   */
  readonly readTimeoutMs?: number;
  /**
   * After a failed first read of a tenant, how long its lookups fail at once instead of
   * each waiting for PostgreSQL again, ms. Default 1 000.
   */
  readonly failedLoadBackoffMs?: number;
  /** A tenant not asked for in this long is dropped from the cache, ms. Default 600 000. */
  readonly idleMs?: number;
  /** Told of each failed read (for logs and a counter); the cache goes on serving what it has. */
  readonly onRefreshError?: (error: unknown, tenantIds: readonly string[]) => void;
  /** The time; injectable for tests. Default Date.now. */
  readonly clock?: () => number;
}

interface Held {
  snapshot: TenantSnapshot | undefined;
  /** The read sequence number the snapshot came from: a slower, older read never overwrites a newer one. */
  appliedSeq: number;
  /** A first read in flight, which lookups of a tenant not yet held wait for. */
  firstLoad: Promise<void> | undefined;
  /** Until when lookups of a tenant whose first read failed fail at once. */
  failedUntil: number;
  lastUsed: number;
}

const STORE = 'configuration store (PostgreSQL)';

/** Older strategy versions held for pinned messages: a few hundred bytes each. */
const MAX_PINNED_VERSIONS = 10_000;

/**
 * Strategies and providers of each tenant, read from PostgreSQL as one snapshot per
 * tenant, so neither ingest (which checks that a strategy exists) nor the dispatcher
 * (which routes by it) queries PostgreSQL per message. Lookups never wait for
 * PostgreSQL once a tenant is held: snapshots are replaced in the background, on every
 * NOTIFY of a change (listen), on every (re)connect of the listener, and every
 * `refreshMs`. When a read fails the last snapshot keeps serving, for up to
 * `maxStaleMs`; `oldestAgeMs` says how old the oldest one served is.
 */
export class RoutingCache {
  private readonly sql: Sql;
  private readonly refreshMs: number;
  private readonly maxStaleMs: number;
  private readonly readTimeoutMs: number;
  private readonly failedLoadBackoffMs: number;
  private readonly idleMs: number;
  private readonly onRefreshError: (error: unknown, tenantIds: readonly string[]) => void;
  private readonly clock: () => number;
  private readonly held = new Map<string, Held>();
  /**
   * Older strategy versions messages are pinned to, by tenant, name and version: their
   * definitions never change. A move (migration 011) changes only which version a pin
   * resolves to, and that is held in the snapshot, so nothing here needs evicting.
   */
  private readonly versions = new Map<string, Strategy>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(sql: Sql, options: RoutingCacheOptions = {}) {
    this.sql = sql;
    this.refreshMs = options.refreshMs ?? 10_000;
    this.maxStaleMs = options.maxStaleMs ?? 86_400_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 3_000;
    this.failedLoadBackoffMs = options.failedLoadBackoffMs ?? 1_000;
    this.idleMs = options.idleMs ?? 600_000;
    this.onRefreshError = options.onRefreshError ?? (() => {});
    this.clock = options.clock ?? Date.now;
  }

  /**
   * The routing of a message that names `strategy`, or else only `channel` (then the
   * tenant's default strategy for it): by its newest version, or by `strategy_version`
   * when the message is pinned to one (it was first routed with it), unless an operator
   * moved that version (strategy-moves.ts): then by the version it was moved to, which
   * the Routing names, so the dispatcher pins the message to it. Throws
   * ValidationError naming `/strategy` or `/channel` when there is none,
   * DependencyUnavailableError (retryable) when the tenant's configuration cannot be read
   * and no snapshot young enough is held, or a pinned version not held cannot be read.
   */
  async resolve(
    tenantId: string,
    message: {
      readonly strategy?: string | undefined;
      readonly channel?: Channel | undefined;
      readonly strategy_version?: number | undefined;
    },
  ): Promise<Routing> {
    const snapshot = await this.snapshot(tenantId);
    const newest =
      message.strategy !== undefined
        ? snapshot.byName.get(message.strategy)
        : message.channel !== undefined
          ? snapshot.byChannel.get(message.channel)
          : undefined;
    if (newest === undefined) {
      throw message.strategy !== undefined
        ? new ValidationError([{ path: '/strategy', message: `no strategy named "${message.strategy}"` }])
        : new ValidationError([{ path: '/channel', message: `no default strategy for channel "${String(message.channel)}"` }]);
    }
    const pinned =
      message.strategy_version === undefined
        ? undefined
        : followMoves(snapshot.moves.get(newest.strategy.name), message.strategy_version).version;
    const found = pinned === undefined || pinned === newest.version ? newest : await this.pinnedVersion(tenantId, newest, pinned);
    if (message.channel !== undefined && found.strategy.channel !== message.channel) {
      throw new ValidationError([
        { path: '/channel', message: `strategy "${found.strategy.name}" sends on ${found.strategy.channel}` },
      ]);
    }
    return found;
  }

  /**
   * `newest`'s strategy at an older version, with the tenant's current providers and
   * zone (providers are not versioned). Read once per version and kept: a version's
   * definition never changes. Bounded, oldest first out, so a flood of pinned versions cannot grow
   * it without end.
   */
  private async pinnedVersion(tenantId: string, newest: Routing, version: number): Promise<Routing> {
    const { name } = newest.strategy;
    const key = `${tenantId}\u0000${name}\u0000${version}`;
    let strategy = this.versions.get(key);
    if (strategy === undefined) {
      let stored;
      try {
        stored = await this.withTimeout(findStrategy(this.sql, tenantId, name, version));
      } catch (error) {
        this.onRefreshError(error, [tenantId]);
        throw new DependencyUnavailableError(STORE, error);
      }
      if (stored === null || stored.version !== version) {
        throw new ValidationError([{ path: '/strategy_version', message: `strategy "${name}" has no version ${version}` }]);
      }
      strategy = stored.strategy;
      if (this.versions.size >= MAX_PINNED_VERSIONS) this.versions.delete(this.versions.keys().next().value ?? '');
      this.versions.set(key, strategy);
    }
    return { ...newest, strategy, version };
  }

  /**
   * The tenant's newest template versions and default locale, from the same snapshot
   * (and with the same staleness rules) as resolve.
   */
  async templates(tenantId: string): Promise<TenantTemplates> {
    return (await this.snapshot(tenantId)).templates;
  }

  /** Age of the oldest snapshot held, ms (0 with none): what the config-age metric reports. */
  oldestAgeMs(): number {
    const now = this.clock();
    let oldest = 0;
    for (const held of this.held.values()) {
      if (held.snapshot !== undefined) oldest = Math.max(oldest, now - held.snapshot.loadedAt);
    }
    return oldest;
  }

  /**
   * Reloads a tenant on every NOTIFY of a change to it, and every tenant held whenever
   * the listener (re)connects, since a notification sent while it was away is lost.
   * Resolves once listening; postgres.js reconnects the listener by itself after that.
   * A first attempt that fails is retried every `refreshMs` until close.
   */
  async listen(): Promise<void> {
    while (!this.closed) {
      try {
        const listener = await this.sql.listen(
          CONFIG_CHANNEL,
          (tenantId) => void this.refresh([tenantId]),
          () => void this.refresh([...this.held.keys()]),
        );
        this.unlisten = () => listener.unlisten();
        return;
      } catch (error) {
        this.onRefreshError(error, []);
        await new Promise((resolve) => setTimeout(resolve, this.refreshMs).unref());
      }
    }
  }

  /** Stops the periodic refresh and the listener. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.unlisten?.().catch(() => {});
  }

  private async snapshot(tenantId: string): Promise<TenantSnapshot> {
    const now = this.clock();
    let held = this.held.get(tenantId);
    if (held === undefined) {
      held = { snapshot: undefined, appliedSeq: 0, firstLoad: undefined, failedUntil: 0, lastUsed: now };
      this.held.set(tenantId, held);
      this.startTimer();
    }
    held.lastUsed = now;
    if (held.snapshot === undefined) {
      if (held.failedUntil > now) throw new DependencyUnavailableError(STORE);
      held.firstLoad ??= this.firstLoad(tenantId, held);
      await held.firstLoad;
    } else if (now - held.snapshot.loadedAt > this.maxStaleMs) {
      // Too old to trust: one read in the caller's time, then refuse.
      await this.refresh([tenantId]);
      if (now - held.snapshot.loadedAt > this.maxStaleMs) throw new DependencyUnavailableError(STORE);
    }
    if (held.snapshot === undefined) throw new DependencyUnavailableError(STORE);
    return held.snapshot;
  }

  private async firstLoad(tenantId: string, held: Held): Promise<void> {
    try {
      await this.refresh([tenantId]);
    } finally {
      held.firstLoad = undefined;
      if (held.snapshot === undefined) held.failedUntil = this.clock() + this.failedLoadBackoffMs;
    }
  }

  /**
   * Reads the tenants again; a failure is reported and leaves their snapshots as they
   * were. A read that times out and lands later is dropped: a newer one follows soon.
   */
  private async refresh(tenantIds: readonly string[]): Promise<void> {
    const wanted = tenantIds.filter((id) => this.held.has(id));
    if (wanted.length === 0 || this.closed) return;
    const seq = ++this.seq;
    try {
      const snapshots = await this.withTimeout(loadSnapshots(this.sql, wanted, this.clock()));
      for (const [id, snapshot] of snapshots) {
        const held = this.held.get(id);
        // A read started after this one may have landed first: it saw newer rows.
        if (held === undefined || held.appliedSeq > seq) continue;
        held.snapshot = snapshot;
        held.appliedSeq = seq;
      }
    } catch (error) {
      this.onRefreshError(error, wanted);
    }
  }

  private async withTimeout<T>(read: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DependencyUnavailableError(`${STORE}: no answer in ${this.readTimeoutMs} ms`)), this.readTimeoutMs);
    });
    try {
      return await Promise.race([read, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private startTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => {
      const now = this.clock();
      for (const [id, held] of this.held) {
        if (now - held.lastUsed > this.idleMs) this.held.delete(id);
      }
      void this.refresh([...this.held.keys()]);
    }, this.refreshMs);
    // The cache never keeps a process alive on its own.
    this.timer.unref();
  }
}
