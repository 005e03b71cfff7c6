import {
  ConfigError,
  optOutKey,
  parseOptOutKey,
  preferenceDigest,
  type AddressKind,
  type Channel,
  type ContactAddress,
  type OptOutScope,
  type PreferenceChange,
} from '@commstrat/core';
import { createHmac } from 'node:crypto';
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';

/** Where an opt-out came from: the tenant's API, or the recipient's own inbound keyword. */
export type OptOutSource = 'api' | 'inbound';

/** One opt-out of an address, as the API reads it back. */
export interface OptOut extends OptOutScope {
  readonly source: OptOutSource;
  readonly reason?: string;
  readonly at: Date;
}

interface OptOutEntry {
  readonly source: OptOutSource;
  readonly reason?: string;
  readonly at: Date;
}

/**
 * One address of one tenant and its opt-outs, by optOutKey (`sms:marketing`, `sms:*`).
 * The `_id` is `<tenant>:<keyed digest of the address>` (preferenceDigest): the address
 * itself is not stored, so this collection, which outlives every message, holds no phone
 * number or e-mail address in clear.
 */
interface PreferenceDocument {
  _id: string;
  tenant_id: string;
  kind: AddressKind;
  opt_outs: Record<string, OptOutEntry>;
  created_at: Date;
  updated_at: Date;
}

/** What the key check stores: a fingerprint of the secret the digests were made with. */
interface KeyDocument {
  _id: string;
  fingerprint: string;
  created_at: Date;
}

/** No tenant's `_id` has this form (theirs end in a 43-character digest). */
const KEY_ID = '#digest-key';

export interface PreferenceStoreOptions {
  /**
   * The secret addresses are digested with (COMMSTRAT_CONTACT_HASH_SECRET). It must be
   * the same in every ingest and dispatcher replica, and never change once preferences
   * are stored: a digest made with another secret finds nothing.
   */
  readonly secret: string;
}

/** What became of one change: it changed what is stored, or it was so already. */
export type PreferenceOutcome = 'changed' | 'unchanged';

/**
 * Recipient preferences in MongoDB `preferences`: one document per address of a tenant,
 * holding its opt-outs. Read by `_id` only — a dispatched batch of 1 000 messages is one
 * `find` with `_id: {$in: [...]}` on the primary key — so it needs no other index and
 * shards by `_id` when it outgrows one server. Owns no connection.
 */
export class PreferenceStore {
  private readonly documents: Collection<PreferenceDocument>;
  private readonly keys: Collection<KeyDocument>;
  private readonly secret: string;
  private keyChecked: Promise<void> | undefined;

  constructor(db: Db, options: PreferenceStoreOptions) {
    this.documents = db.collection<PreferenceDocument>('preferences');
    this.keys = db.collection<KeyDocument>('preferences');
    this.secret = options.secret;
  }

  /**
   * Refuses (ConfigError) a secret other than the one the stored preferences were written
   * with: every opt-out would silently stop matching. Run at start-up; with no preference
   * stored yet it checks nothing (the first write records the secret's fingerprint).
   */
  async checkKey(): Promise<void> {
    const stored = await this.keys.findOne({ _id: KEY_ID });
    if (stored !== null && stored.fingerprint !== this.fingerprint()) throw keyMismatch();
  }

  /**
   * The opt-outs (optOutKey strings) held for each address, in one query whatever the
   * number of tenants and addresses: by `${tenant}\u0000${kind}:${address}`. An address
   * without any is absent.
   */
  async optedOut(lookups: readonly { readonly tenantId: string; readonly address: ContactAddress }[]): Promise<Map<string, Set<string>>> {
    const byId = new Map<string, string>();
    for (const { tenantId, address } of lookups) byId.set(this.idOf(tenantId, address), lookupKey(tenantId, address));
    const found = new Map<string, Set<string>>();
    if (byId.size === 0) return found;
    const documents = await this.documents.find({ _id: { $in: [...byId.keys()] } }, { projection: { opt_outs: 1 } }).toArray();
    for (const document of documents) {
      const keys = Object.keys(document.opt_outs ?? {});
      const key = byId.get(document._id);
      if (key !== undefined && keys.length > 0) found.set(key, new Set(keys));
    }
    return found;
  }

  /** An address's opt-outs, oldest first. */
  async read(tenantId: string, address: ContactAddress): Promise<OptOut[]> {
    const document = await this.documents.findOne({ _id: this.idOf(tenantId, address) });
    return Object.entries(document?.opt_outs ?? {})
      .map(([key, entry]) => ({ ...parseOptOutKey(key), ...entry }))
      .sort((a, b) => a.at.getTime() - b.at.getTime() || optOutKey(a).localeCompare(optOutKey(b)));
  }

  /**
   * Applies changes of one tenant, in order (a later change of the same opt-out wins):
   * one read of the addresses' documents, then one unordered bulk write of the
   * documents that change. An opt-out already held keeps its first time and source.
   * Returns what became of each change.
   */
  async apply(tenantId: string, changes: readonly PreferenceChange[], source: OptOutSource, now: Date): Promise<PreferenceOutcome[]> {
    if (changes.length === 0) return [];
    await this.recordKey(now);
    const ids = changes.map((change) => this.idOf(tenantId, change.address));
    const current = new Map<string, Set<string>>();
    const documents = await this.documents.find({ _id: { $in: [...new Set(ids)] } }, { projection: { opt_outs: 1 } }).toArray();
    for (const document of documents) current.set(document._id, new Set(Object.keys(document.opt_outs ?? {})));
    // Per document: the opt-outs to set and to remove, the last change of each winning.
    const writes = new Map<string, { kind: AddressKind; set: Map<string, OptOutEntry>; unset: Set<string> }>();
    const outcomes = changes.map((change, i): PreferenceOutcome => {
      const id = ids[i] ?? '';
      const held = current.get(id) ?? new Set<string>();
      current.set(id, held);
      const key = optOutKey(change);
      if (change.optedOut === held.has(key)) return 'unchanged';
      let write = writes.get(id);
      if (write === undefined) {
        write = { kind: change.address.kind, set: new Map(), unset: new Set() };
        writes.set(id, write);
      }
      if (change.optedOut) {
        held.add(key);
        write.unset.delete(key);
        write.set.set(key, { source, at: now, ...(change.reason === undefined ? {} : { reason: change.reason }) });
      } else {
        held.delete(key);
        write.set.delete(key);
        write.unset.add(key);
      }
      return 'changed';
    });
    const operations: AnyBulkWriteOperation<PreferenceDocument>[] = [];
    for (const [id, { kind, set, unset }] of writes) {
      if (set.size === 0 && unset.size === 0) continue;
      const fields: Record<string, unknown> = { tenant_id: tenantId, kind, updated_at: now };
      for (const [key, entry] of set) fields[`opt_outs.${key}`] = entry;
      const update = {
        $set: fields,
        $setOnInsert: { created_at: now },
        ...(unset.size === 0 ? {} : { $unset: Object.fromEntries([...unset].map((key) => [`opt_outs.${key}`, ''])) }),
      };
      // Removals alone never create a document.
      operations.push({ updateOne: { filter: { _id: id }, update: update as never, upsert: set.size > 0 } });
    }
    if (operations.length > 0) await this.documents.bulkWrite(operations, { ordered: false });
    return outcomes;
  }

  /**
   * Removes an address's opt-outs, those of one channel or category only when given;
   * returns the scopes removed.
   */
  async remove(tenantId: string, address: ContactAddress, only: { readonly channel?: Channel; readonly category?: string } = {}): Promise<OptOutScope[]> {
    const held = await this.read(tenantId, address);
    const removed = held.filter((optOut) => (only.channel === undefined || optOut.channel === only.channel) && (only.category === undefined || optOut.category === only.category));
    if (removed.length === 0) return [];
    await this.documents.updateOne(
      { _id: this.idOf(tenantId, address) },
      { $unset: Object.fromEntries(removed.map((scope) => [`opt_outs.${optOutKey(scope)}`, ''])), $set: { updated_at: new Date() } },
    );
    return removed.map(({ channel, category }) => ({ channel, category }));
  }

  private idOf(tenantId: string, address: ContactAddress): string {
    return `${tenantId}:${preferenceDigest(this.secret, tenantId, address)}`;
  }

  private fingerprint(): string {
    return createHmac('sha256', this.secret).update('commstrat preference digest key').digest('base64url');
  }

  /** Stores the secret's fingerprint with the first preference, and checks it once per process. */
  private async recordKey(now: Date): Promise<void> {
    this.keyChecked ??= (async () => {
      await this.keys.updateOne({ _id: KEY_ID }, { $setOnInsert: { fingerprint: this.fingerprint(), created_at: now } }, { upsert: true });
      await this.checkKey();
    })().catch((error: unknown) => {
      this.keyChecked = undefined;
      throw error;
    });
    await this.keyChecked;
  }
}

/** How optedOut names an address of a tenant in its answer. */
export function lookupKey(tenantId: string, address: ContactAddress): string {
  return `${tenantId}\u0000${address.kind}:${address.address}`;
}

function keyMismatch(): ConfigError {
  return new ConfigError([
    {
      path: 'COMMSTRAT_CONTACT_HASH_SECRET',
      message:
        'differs from the secret the stored recipient preferences were digested with: set it back to that secret (with another one every stored opt-out stops matching)',
    },
  ]);
}
