import type { ComponentChildren } from 'preact';
import { ApiError } from '../api.ts';

/** A time as the operator reads it: local date and time to the second, the ISO text on hover. */
export function Time({ at }: { at: string | null | undefined }) {
  if (at === null || at === undefined) return <span class="muted">—</span>;
  const date = new Date(at);
  return <time dateTime={at} title={at}>{date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' })}</time>;
}

const STATUS_CLASS: Readonly<Record<string, string>> = {
  delivered: 'good',
  sent: 'good',
  accepted: 'info',
  queued: 'info',
  scheduled: 'info',
  sending: 'info',
  failed: 'bad',
  rejected: 'bad',
  expired: 'warn',
  cancelled: 'warn',
  healthy: 'good',
  degraded: 'warn',
  down: 'bad',
  disabled: 'muted',
  unknown: 'muted',
  closed: 'good',
  'half-open': 'warn',
  open: 'bad',
  running: 'info',
  finished: 'good',
  stopped: 'warn',
};

export function Badge({ value }: { value: string | null | undefined }) {
  if (value === null || value === undefined) return <span class="muted">—</span>;
  return <span class={`badge ${STATUS_CLASS[value] ?? 'info'}`}>{value}</span>;
}

/** Why a load or an action failed: the API's code and message, and each field it names. */
export function ErrorBox({ error }: { error: Error | undefined }) {
  if (error === undefined) return null;
  const api = error instanceof ApiError ? error : undefined;
  return (
    <div class="error" role="alert">
      <strong>{api === undefined ? 'Error' : `${api.status} ${api.code}`}</strong>: {error.message}
      {api !== undefined && api.problems.length > 0 && (
        <ul>
          {api.problems.map((problem) => (
            <li key={problem.path}>
              <code>{problem.path}</code> {problem.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Loading({ when }: { when: boolean }) {
  return when ? <p class="muted loading">Loading…</p> : null;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <header class="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** Label/value pairs, as a definition list. */
export function Fields({ rows }: { rows: readonly (readonly [string, ComponentChildren])[] }) {
  return (
    <dl class="fields">
      {rows.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value ?? <span class="muted">—</span>}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

/** A modal that asks before something is changed; the action runs only on "confirm". */
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-label={props.title}>
      <div class="dialog">
        <h2>{props.title}</h2>
        {props.children}
        <div class="dialog-actions">
          <button type="button" onClick={props.onCancel} disabled={props.busy}>
            Cancel
          </button>
          <button type="button" class="danger" onClick={props.onConfirm} disabled={props.busy}>
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

/** A datetime-local input's value (local time) as RFC 3339 in UTC, or undefined when empty. */
export function toIso(local: string | undefined): string | undefined {
  if (local === undefined || local === '') return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** An RFC 3339 time as a datetime-local input's value (local time, to the minute). */
export function toLocalInput(iso: string | undefined): string {
  if (iso === undefined || iso === '') return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
