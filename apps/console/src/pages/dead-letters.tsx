import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Badge, Confirm, ErrorBox, Loading, Section, Time, toIso } from '../components/common.tsx';
import { useHref, useInterval, useLoad, useTenant } from '../hooks.ts';
import { recipientText } from './messages.tsx';

interface Entry {
  readonly entry_id: string;
  readonly dead_lettered_at: string;
  readonly message_id: string | null;
  readonly tenant_id: string | null;
  readonly channel: string | null;
  readonly recipient: Readonly<Record<string, string>> | null;
  readonly provider: string | null;
  readonly code: string | null;
  readonly reason: string;
}

interface Listing {
  readonly entries: readonly Entry[];
  readonly scanned: number;
  readonly next_after: string | null;
  readonly stream_length?: number;
}

interface Summary {
  readonly dry_run: boolean;
  readonly interrupted: boolean;
  readonly selected: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly skipped: Readonly<Record<string, number>>;
  readonly items: readonly { readonly entry_id: string; readonly message_id?: string; readonly action: string; readonly reason?: string; readonly new_id?: string }[];
}

interface Job {
  readonly id: string;
  readonly state: 'running' | 'finished' | 'stopped' | 'failed';
  readonly selected: number;
  readonly done: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly skipped: Readonly<Record<string, number>>;
  readonly updated_at: string;
  readonly error: string | null;
  readonly items: Summary['items'];
}

interface Filter {
  readonly provider: string;
  readonly error_code: string;
  readonly since: string;
  readonly until: string;
}

const EMPTY: Filter = { provider: '', error_code: '', since: '', until: '' };

/**
 * The dead-letter stream, filtered (a tenant's own entries for an admin key; every
 * tenant's, or one's, for an operator). A dry run lists what a re-drive would send and
 * skip, as `commstrat replay dlq --dry-run` does; then the re-drive itself runs on the
 * server, and its progress is polled until it ends.
 */
export function DeadLettersPage() {
  const { tenant } = useTenant();
  const href = useHref();
  const [form, setForm] = useState<Filter>(EMPTY);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const selection = {
    provider: filter.provider || undefined,
    error_code: filter.error_code || undefined,
    since: toIso(filter.since),
    until: toIso(filter.until),
  };
  const listing = useLoad(() => api.get<Listing>('/dead-letters', { tenant, ...selection, limit: 100 }), [tenant, filter]);
  const [dryRun, setDryRun] = useState<Summary | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const [job, setJob] = useState<Job | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const fail = (reason: unknown) => {
    setBusy(false);
    setError(reason instanceof Error ? reason : new Error(String(reason)));
  };
  const runDry = () => {
    setBusy(true);
    setError(undefined);
    setJob(undefined);
    api.post<Summary>('/dead-letters/redrive', { dry_run: true, ...selection }, { tenant }).then((summary) => {
      setBusy(false);
      setDryRun(summary);
    }, fail);
  };
  const redrive = () => {
    setBusy(true);
    api.post<Job>('/dead-letters/redrive', { dry_run: false, ...selection }, { tenant }).then((started) => {
      setBusy(false);
      setAsking(false);
      setDryRun(undefined);
      setJob(started);
    }, fail);
  };
  useInterval(() => {
    if (job === undefined || job.state !== 'running') return;
    api.get<Job>(`/jobs/${job.id}`).then((next) => {
      setJob(next);
      if (next.state !== 'running') listing.reload();
    }, fail);
  }, 1000);
  const stop = () => {
    if (job !== undefined) api.post(`/jobs/${job.id}/stop`, {}).catch(fail);
  };
  const replayable = dryRun?.counts['replay'] ?? 0;
  const set = (name: keyof Filter) => (event: Event) => setForm({ ...form, [name]: (event.currentTarget as HTMLInputElement).value });
  return (
    <>
      <Section title="Dead letters">
        <form
          class="search"
          aria-label="filter dead letters"
          onSubmit={(event) => {
            event.preventDefault();
            setDryRun(undefined);
            setFilter(form);
          }}
        >
          <label>
            Provider
            <input name="provider" value={form.provider} onInput={set('provider')} placeholder="sandbox" />
          </label>
          <label>
            Error code
            <input name="error_code" value={form.error_code} onInput={set('error_code')} placeholder="provider_unavailable" />
          </label>
          <label>
            Dead-lettered from
            <input name="since" type="datetime-local" value={form.since} onInput={set('since')} />
          </label>
          <label>
            until
            <input name="until" type="datetime-local" value={form.until} onInput={set('until')} />
          </label>
          <button type="submit">Filter</button>
        </form>
        <ErrorBox error={listing.error} />
        <Loading when={listing.loading && listing.data === undefined} />
        {listing.data !== undefined && (
          <p class="muted">
            {listing.data.entries.length} entr{listing.data.entries.length === 1 ? 'y' : 'ies'} shown of {listing.data.scanned} read
            {listing.data.stream_length === undefined ? '' : ` (${listing.data.stream_length} in the stream, every tenant)`}
            {listing.data.next_after !== null ? '; more follow' : ''}.
          </p>
        )}
        {(listing.data?.entries.length ?? 0) > 0 && (
          <table class="grid dead-letters">
            <thead>
              <tr>
                <th>dead-lettered</th>
                <th>message</th>
                {tenant === undefined && <th>tenant</th>}
                <th>recipient</th>
                <th>provider</th>
                <th>code</th>
                <th>reason</th>
              </tr>
            </thead>
            <tbody>
              {listing.data?.entries.map((e) => (
                <tr key={e.entry_id}>
                  <td>
                    <Time at={e.dead_lettered_at} />
                  </td>
                  <td>{e.message_id === null ? <span class="muted">unreadable</span> : <a href={href(`/messages/${e.message_id}`)}>{e.message_id}</a>}</td>
                  {tenant === undefined && <td>{e.tenant_id}</td>}
                  <td class="recipient">{recipientText(e.recipient)}</td>
                  <td>{e.provider}</td>
                  <td>
                    <code>{e.code}</code>
                  </td>
                  <td>{e.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <div class="actions">
          <button type="button" onClick={runDry} disabled={busy || job?.state === 'running'}>
            Dry run a re-drive
          </button>
          <button type="button" class="danger" onClick={() => setAsking(true)} disabled={busy || dryRun === undefined || replayable === 0}>
            Re-drive {dryRun === undefined ? '' : replayable}
          </button>
        </div>
        <ErrorBox error={error} />
      </Section>
      {dryRun !== undefined && (
        <Section title="Dry run">
          <RunCounts counts={dryRun.counts} skipped={dryRun.skipped} selected={dryRun.selected} />
          <Items items={dryRun.items} />
        </Section>
      )}
      {job !== undefined && (
        <Section title="Re-drive" actions={<Badge value={job.state} />}>
          <div class="meter" aria-label="re-drive progress">
            <span>
              {job.done} of {job.selected} handled
            </span>
            <div class="bar">
              <div class="fill" style={{ width: `${job.selected === 0 ? (job.state === 'running' ? 0 : 100) : Math.min(100, (job.done / job.selected) * 100)}%` }} />
            </div>
          </div>
          <RunCounts counts={job.counts} skipped={job.skipped} selected={job.selected} />
          {job.state === 'running' && (
            <button type="button" onClick={stop}>
              Stop
            </button>
          )}
          {job.error !== null && <p class="error">{job.error}</p>}
          {job.state !== 'running' && <Items items={job.items} />}
        </Section>
      )}
      {asking && (
        <Confirm title="Re-drive these dead letters?" confirmLabel={`Re-drive ${replayable}`} busy={busy} onCancel={() => setAsking(false)} onConfirm={redrive}>
          <p>
            Each of the {replayable} selected entries becomes a new message, linked to its failed original and enqueued in its lane; the entry is then removed. An original is
            sent at most once, also if this is run again.
          </p>
        </Confirm>
      )}
    </>
  );
}

function RunCounts({ counts, skipped, selected }: { counts: Readonly<Record<string, number>>; skipped: Readonly<Record<string, number>>; selected: number }) {
  return (
    <ul class="counts">
      <li>
        selected <strong>{selected}</strong>
      </li>
      {Object.entries(counts).map(([name, count]) => (
        <li key={name}>
          {name} <strong>{count}</strong>
        </li>
      ))}
      {Object.entries(skipped).map(([reason, count]) => (
        <li key={reason} class="muted">
          skipped, {reason}: {count}
        </li>
      ))}
    </ul>
  );
}

function Items({ items }: { items: Summary['items'] }) {
  const href = useHref();
  if (items.length === 0) return null;
  return (
    <table class="grid">
      <thead>
        <tr>
          <th>entry</th>
          <th>message</th>
          <th>action</th>
          <th>new message / why</th>
        </tr>
      </thead>
      <tbody>
        {items.map((item) => (
          <tr key={item.entry_id}>
            <td>
              <code>{item.entry_id}</code>
            </td>
            <td>{item.message_id === undefined ? '' : <a href={href(`/messages/${item.message_id}`)}>{item.message_id}</a>}</td>
            <td>{item.action}</td>
            <td>{item.new_id !== undefined ? <a href={href(`/messages/${item.new_id}`)}>{item.new_id}</a> : (item.reason ?? '')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
