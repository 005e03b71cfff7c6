import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, queryString } from '../api.ts';
import { Badge, ErrorBox, Loading, Section, Time, toIso, toLocalInput } from '../components/common.tsx';
import { useHref, useLoad, useTenant } from '../hooks.ts';

const STATUSES = ['accepted', 'queued', 'scheduled', 'sending', 'sent', 'delivered', 'failed', 'expired', 'cancelled', 'rejected'];
const FIELDS = ['id', 'batch_id', 'tag', 'status', 'from', 'to'] as const;

export interface MessageRow {
  readonly id: string;
  readonly tenant_id: string;
  readonly batch_id: string;
  readonly status: string;
  readonly channel: string;
  readonly priority: string;
  readonly recipient: Readonly<Record<string, string>>;
  readonly tags?: readonly string[];
  readonly strategy?: string;
  readonly strategy_version?: number;
  readonly provider?: string;
  readonly created_at: string;
}

interface Page {
  readonly tenant: string | null;
  readonly messages: readonly MessageRow[];
  readonly next_after: string | null;
}

export function recipientText(recipient: Readonly<Record<string, string>> | null | undefined): string {
  if (recipient === null || recipient === undefined) return '';
  return recipient['phone'] ?? recipient['email'] ?? recipient['chat_id'] ?? (recipient['push_token'] === undefined ? '' : 'push token');
}

/**
 * Message search: by id (any tenant for an operator), or a tenant's messages by batch,
 * tag, status and creation time, newest first, a page at a time. The search is the
 * page's address, so it can be linked and reloaded.
 */
export function MessagesPage() {
  const location = useLocation();
  const { tenant, operator } = useTenant();
  const href = useHref();
  const query = location.query;
  const [form, setForm] = useState<Record<string, string>>(() => Object.fromEntries(FIELDS.map((f) => [f, f === 'from' || f === 'to' ? toLocalInput(query[f]) : (query[f] ?? '')])));
  const after = query['after'];
  // Only once asked (the form sets `search`, or a link names a filter): the newest of a
  // whole tenant is the one listing the journal's store cannot bound (docs/console.md).
  const asked = query['search'] !== undefined || ['batch_id', 'tag', 'status', 'from', 'to'].some((name) => (query[name] ?? '') !== '');
  const searching = asked && (tenant !== undefined || (operator && (query['batch_id'] ?? '') !== ''));
  const page = useLoad(
    searching
      ? () =>
          api.get<Page>('/messages', {
            tenant,
            batch_id: query['batch_id'],
            tag: query['tag'],
            status: query['status'],
            from: query['from'],
            to: query['to'],
            after,
            limit: 50,
          })
      : null,
    [tenant, query['batch_id'], query['tag'], query['status'], query['from'], query['to'], after],
  );
  const submit = (event: Event) => {
    event.preventDefault();
    const id = (form['id'] ?? '').trim();
    if (id !== '') {
      location.route(href(`/messages/${encodeURIComponent(id)}`));
      return;
    }
    location.route(
      `/console/messages${queryString({ search: 1, tenant: operator ? tenant : undefined, batch_id: form['batch_id'], tag: form['tag'], status: form['status'], from: toIso(form['from']), to: toIso(form['to']) })}`,
    );
  };
  const set = (name: string) => (event: Event) => setForm({ ...form, [name]: (event.currentTarget as HTMLInputElement).value });
  return (
    <>
      <Section title="Search messages">
        <form class="search" onSubmit={submit} aria-label="search messages">
          <label>
            Message id
            <input name="id" value={form['id']} onInput={set('id')} placeholder="01K…" />
          </label>
          <label>
            Batch id
            <input name="batch_id" value={form['batch_id']} onInput={set('batch_id')} />
          </label>
          <label>
            Tag
            <input name="tag" value={form['tag']} onInput={set('tag')} />
          </label>
          <label>
            Status
            <select name="status" value={form['status']} onChange={set('status')}>
              <option value="">any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            Created from
            <input name="from" type="datetime-local" value={form['from']} onInput={set('from')} />
          </label>
          <label>
            to
            <input name="to" type="datetime-local" value={form['to']} onInput={set('to')} />
          </label>
          <button type="submit" class="primary">
            Search
          </button>
        </form>
        {operator && tenant === undefined && <p class="muted">All tenants: find a message by its id or a batch by its id; pick a tenant to search by tag, status or time.</p>}
      </Section>
      {searching && (
        <Section title={page.data?.tenant === undefined || page.data.tenant === null ? 'Messages' : `Messages of ${page.data.tenant}`}>
          <ErrorBox error={page.error} />
          <Loading when={page.loading} />
          {page.data !== undefined && page.data.messages.length === 0 && <p class="muted">No message matches.</p>}
          {page.data !== undefined && page.data.messages.length > 0 && (
            <table class="grid messages">
              <thead>
                <tr>
                  <th>id</th>
                  <th>created</th>
                  <th>status</th>
                  <th>channel</th>
                  <th>recipient</th>
                  <th>priority</th>
                  <th>strategy</th>
                  <th>provider</th>
                  <th>tags</th>
                </tr>
              </thead>
              <tbody>
                {page.data.messages.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <a href={href(`/messages/${m.id}`)}>
                        <code>{m.id}</code>
                      </a>
                    </td>
                    <td>
                      <Time at={m.created_at} />
                    </td>
                    <td>
                      <Badge value={m.status} />
                    </td>
                    <td>{m.channel}</td>
                    <td class="recipient">{recipientText(m.recipient)}</td>
                    <td>{m.priority}</td>
                    <td>{m.strategy === undefined ? '' : `${m.strategy} v${m.strategy_version ?? '?'}`}</td>
                    <td>{m.provider ?? ''}</td>
                    <td>{(m.tags ?? []).join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {page.data?.next_after !== null && page.data?.next_after !== undefined && (
            <p>
              <a class="button" href={`/console/messages${queryString({ ...query, after: page.data.next_after })}`}>
                Older messages →
              </a>
            </p>
          )}
        </Section>
      )}
    </>
  );
}
