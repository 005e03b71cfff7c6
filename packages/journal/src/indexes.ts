import type { Db, IndexDescription } from 'mongodb';

type Collection = 'messages' | 'requests' | 'provider_exchanges';

/**
 * The journal's indexes, by collection. Each serves a read no other index serves, and
 * is partial where most documents never take that read (docs/architecture.md, MongoDB,
 * lists which read each one serves). Every index is work on every insert, and on every
 * status update whose keys it holds; SecantusDB also rebuilds each index's keys of a
 * document it updates to compare them, whether they change or not.
 *
 * Partial filters use `$exists: true` or an equality: a query names the field with a
 * value, which implies them, so MongoDB and SecantusDB both choose the index. (SecantusDB
 * cannot tell that `{f: 'x'}` implies `{f: {$type: 'string'}}`, and scanned the tenant's
 * whole `tenant_id` range for every receipt instead.)
 */
export const INDEXES: Readonly<Record<Collection, IndexDescription[]>> = {
  messages: [
    // Ids are ULIDs (creation order): every listing pages by _id, newest first, on one of these.
    // A listing without a filter or with a time range only; the tenants a re-drive walks (distinct).
    { key: { tenant_id: 1, _id: -1 }, name: 'tenant_id' },
    // A listing by status; a re-drive's candidates (finished messages of one status).
    { key: { tenant_id: 1, status: 1, _id: -1 }, name: 'tenant_status_id' },
    // A listing by tag, only of messages that have tags (toDocument leaves out an empty list).
    {
      key: { tenant_id: 1, tags: 1, _id: -1 },
      name: 'tenant_tag_id_tagged',
      partialFilterExpression: { tags: { $exists: true } },
    },
    // The status-callback outbox: messages with changes not yet handed to `callbacks`.
    // Every change sets callback_due; only messages that take callbacks are indexed.
    { key: { callback_due: 1 }, name: 'callback_due', partialFilterExpression: { callback_due: true, callbacks: true } },
    // What delivery receipts look up: the provider's id of a message, once it was sent.
    {
      key: { tenant_id: 1, provider_message_id: 1 },
      name: 'tenant_provider_message_id_set',
      partialFilterExpression: { provider_message_id: { $exists: true } },
    },
    // No index by request: a batch's messages are the ids its request holds, read by _id.
  ],
  requests: [
    // What the recovery pass reads: requests not yet verified in their lanes, oldest first.
    {
      key: { enqueued: 1, received_at: 1 },
      name: 'unverified_received',
      partialFilterExpression: { enqueued: false },
    },
  ],
  // A message's provider exchanges (support, the ledger): also those of a resend whose
  // status write found the message already sent, which its timeline does not name.
  provider_exchanges: [{ key: { message_ids: 1 }, name: 'message_ids' }],
};

/**
 * Indexes earlier versions made that the ones above replace, or that served no read
 * (`tenant_received`). Dropped at start-up, and only once the set above exists, so no
 * read is ever without its index; any other index (an operator's own) is left alone.
 */
export const REPLACED: Readonly<Record<Collection, readonly string[]>> = {
  messages: ['tenant_request_id', 'tenant_tag_id', 'tenant_provider_message_id'],
  requests: ['tenant_received', 'not_enqueued'],
  provider_exchanges: [],
};

/** IndexNotFound, NamespaceNotFound: another replica dropped it first, or the collection is new. */
const ALREADY_GONE = new Set([26, 27]);

/**
 * Creates the journal's indexes, then drops the ones they replace. Idempotent; every
 * replica runs it at start-up, concurrently with others (a drop that finds its index
 * already gone is what another replica did). On a large journal the first start-up after
 * an upgrade waits for the new indexes to be built.
 */
export async function ensureJournalIndexes(db: Db): Promise<void> {
  await Promise.all(Object.entries(INDEXES).map(([name, indexes]) => db.collection(name).createIndexes(indexes)));
  for (const [name, replaced] of Object.entries(REPLACED)) {
    const collection = db.collection(name);
    const present = new Set((await collection.indexes()).map((index) => index.name));
    for (const index of replaced.filter((n) => present.has(n))) {
      await collection.dropIndex(index).catch((error: unknown) => {
        if (!ALREADY_GONE.has((error as { code?: number }).code ?? 0)) throw error;
      });
    }
  }
}
