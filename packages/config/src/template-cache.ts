import { DependencyUnavailableError, ValidationError } from '@commstrat/core';
import { checkTemplate, type PreparedTemplate } from '@commstrat/templates';
import type { Sql } from 'postgres';
import { findTemplate, type StoredTemplate } from './templates.ts';

export interface TemplateCacheOptions {
  /** How long reading a version may take before it counts as failed, ms. Default 3 000. */
  readonly readTimeoutMs?: number;
  /** Versions held; the least recently used goes first. Default 5 000. */
  readonly maxVersions?: number;
  /** Told of each failed read (for logs and a counter). */
  readonly onReadError?: (error: unknown, tenantId: string) => void;
}

/** A stored template version with its compiled variables check. */
export type CachedTemplate = StoredTemplate & { readonly prepared: PreparedTemplate };

/**
 * Template versions by (tenant, name, version), read from PostgreSQL once each and
 * kept: a version is never rewritten (migration 013), so nothing here is ever stale.
 * Which version is the newest comes from the routing snapshot (RoutingCache.templates),
 * which NOTIFY keeps current; this only holds their documents and compiled schemas.
 * Concurrent lookups of one version share one read.
 */
export class TemplateCache {
  private readonly sql: Sql;
  private readonly readTimeoutMs: number;
  private readonly maxVersions: number;
  private readonly onReadError: (error: unknown, tenantId: string) => void;
  private readonly held = new Map<string, CachedTemplate>();
  private readonly reading = new Map<string, Promise<CachedTemplate>>();

  constructor(sql: Sql, options: TemplateCacheOptions = {}) {
    this.sql = sql;
    this.readTimeoutMs = options.readTimeoutMs ?? 3000;
    this.maxVersions = options.maxVersions ?? 5000;
    this.onReadError = options.onReadError ?? (() => {});
  }

  /**
   * The version, read once. Throws DependencyUnavailableError (retryable) when it
   * cannot be read now, ValidationError when it does not exist or no longer checks
   * (a row written by hand).
   */
  async get(tenantId: string, name: string, version: number): Promise<CachedTemplate> {
    const key = `${tenantId}\u0000${name}\u0000${version}`;
    const held = this.held.get(key);
    if (held !== undefined) {
      this.held.delete(key);
      this.held.set(key, held);
      return held;
    }
    let read = this.reading.get(key);
    if (read === undefined) {
      read = this.read(tenantId, name, version).finally(() => this.reading.delete(key));
      this.reading.set(key, read);
    }
    const found = await read;
    if (this.held.size >= this.maxVersions) this.held.delete(this.held.keys().next().value ?? '');
    this.held.set(key, found);
    return found;
  }

  private async read(tenantId: string, name: string, version: number): Promise<CachedTemplate> {
    let stored: StoredTemplate | null;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${this.readTimeoutMs} ms`)), this.readTimeoutMs);
      });
      stored = await Promise.race([findTemplate(this.sql, tenantId, name, version), timeout]);
    } catch (error) {
      this.onReadError(error, tenantId);
      throw new DependencyUnavailableError('configuration store (PostgreSQL)', error);
    } finally {
      clearTimeout(timer);
    }
    if (stored === null) throw new ValidationError([{ path: '/content/template_id', message: `template "${name}" has no version ${version}` }]);
    let prepared: PreparedTemplate;
    try {
      prepared = checkTemplate(stored.template);
    } catch (error) {
      const said = error instanceof ValidationError ? error.message : String(error);
      throw new ValidationError([{ path: '/content/template_id', message: `template "${name}" version ${version} as stored does not check (${said}); save a new version` }]);
    }
    return { ...stored, prepared };
  }
}
