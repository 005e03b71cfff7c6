import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorBox, formatMs, Section, Time } from '../components/common.tsx';
import { TimeChart } from '../components/chart.tsx';
import { useInterval, useSession } from '../hooks.ts';

interface Lanes {
  readonly at: string;
  readonly lanes: readonly {
    readonly lane: string;
    readonly depth: number;
    readonly lag_ms: number;
    readonly pending: number;
    readonly consumers?: readonly { readonly name: string; readonly pending: number; readonly idle_ms: number }[];
  }[];
  readonly delayed: { readonly total: number; readonly due: Readonly<Record<string, number>> };
}

const POLL_MS = 2000;
/** Samples kept for the chart: ten minutes at one every two seconds. */
const HISTORY = 300;

/**
 * Depth, lag and pending per priority lane, polled every two seconds while the page is
 * open (any ingest replica answers, so polling needs no sticky connection), with the
 * depth of each lane since the page opened. The lanes are shared by every tenant.
 */
export function LanesPage() {
  const session = useSession();
  const [latest, setLatest] = useState<Lanes | undefined>(undefined);
  const [history, setHistory] = useState<readonly Lanes[]>([]);
  const [error, setError] = useState<Error | undefined>(undefined);
  useInterval(() => {
    api.get<Lanes>('/lanes').then(
      (answer) => {
        setLatest(answer);
        setError(undefined);
        setHistory((before) => [...before, answer].slice(-HISTORY));
      },
      (reason: unknown) => setError(reason instanceof Error ? reason : new Error(String(reason))),
    );
  }, POLL_MS);
  const lanes = latest?.lanes.map((l) => l.lane) ?? [];
  return (
    <>
      <Section
        title="Lanes"
        actions={
          <span class="live" aria-live="polite">
            <span class={error === undefined ? 'dot on' : 'dot off'} /> live, every {POLL_MS / 1000} s{latest !== undefined && <> · <Time at={latest.at} /></>}
          </span>
        }
      >
        <ErrorBox error={error} />
        {session.role !== 'operator' && <p class="muted">The lanes are shared by every tenant: their depth and lag are the whole service's, not yours alone.</p>}
        {latest !== undefined && (
          <table class="grid lanes">
            <thead>
              <tr>
                <th>lane</th>
                <th>depth</th>
                <th>lag (oldest waiting)</th>
                <th>pending (claimed)</th>
                {session.role === 'operator' && <th>consumers</th>}
              </tr>
            </thead>
            <tbody>
              {latest.lanes.map((lane) => (
                <tr key={lane.lane}>
                  <td>{lane.lane}</td>
                  <td class="num">{lane.depth}</td>
                  <td class="num">{formatMs(lane.lag_ms)}</td>
                  <td class="num">{lane.pending}</td>
                  {session.role === 'operator' && (
                    <td>{(lane.consumers ?? []).map((c) => `${c.name} (${c.pending} pending, idle ${formatMs(c.idle_ms)})`).join('; ') || <span class="muted">none</span>}</td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      {latest !== undefined && (
        <Section title="Delayed set">
          <p>
            {latest.delayed.total} message{latest.delayed.total === 1 ? '' : 's'} waiting for their time (send_at, a send window, a retry or a cascade step):{' '}
            {Object.entries(latest.delayed.due)
              .map(([bucket, count]) => `${bucket} ${count}`)
              .join(' · ')}
          </p>
        </Section>
      )}
      {history.length > 1 && (
        <Section title="Depth since this page opened">
          <TimeChart
            unit="entries"
            series={[
              ...lanes.map((lane) => ({ label: lane, points: history.map((h) => [Date.parse(h.at), h.lanes.find((l) => l.lane === lane)?.depth ?? 0] as const) })),
              { label: 'delayed', points: history.map((h) => [Date.parse(h.at), h.delayed.total] as const) },
            ]}
          />
        </Section>
      )}
    </>
  );
}
