import { DUE_BUCKETS, type QueueInspector, type ReplicaHeartbeats } from '@commstrat/queue';
import { formatMs, table } from './output.ts';

export const SECTIONS = ['lanes', 'delayed', 'dlq', 'providers', 'replicas'] as const;
export type Section = (typeof SECTIONS)[number];

/** What `commstrat inspect` reports; each section only when asked (all by default). */
export interface InspectReport {
  readonly at: Date;
  readonly lanes?: Awaited<ReturnType<QueueInspector['laneReports']>>;
  readonly delayed?: Awaited<ReturnType<QueueInspector['delayed']>>;
  readonly dead_letters?: Awaited<ReturnType<QueueInspector['deadLettersByCode']>>;
  readonly token_buckets?: Awaited<ReturnType<QueueInspector['tokenBuckets']>>;
  readonly replicas?: Awaited<ReturnType<ReplicaHeartbeats['list']>>;
}

export async function inspect(
  deps: { readonly inspector: QueueInspector; readonly heartbeats: ReplicaHeartbeats },
  sections: readonly Section[],
  now: number = Date.now(),
): Promise<InspectReport> {
  const wants = (section: Section) => sections.includes(section);
  const [lanes, delayed, deadLetters, buckets, replicas] = await Promise.all([
    wants('lanes') ? deps.inspector.laneReports() : undefined,
    wants('delayed') ? deps.inspector.delayed(now) : undefined,
    wants('dlq') ? deps.inspector.deadLettersByCode() : undefined,
    wants('providers') ? deps.inspector.tokenBuckets() : undefined,
    wants('providers') || wants('replicas') ? deps.heartbeats.list() : undefined,
  ]);
  return {
    at: new Date(now),
    ...(lanes === undefined ? {} : { lanes }),
    ...(delayed === undefined ? {} : { delayed }),
    ...(deadLetters === undefined ? {} : { dead_letters: deadLetters }),
    ...(buckets === undefined ? {} : { token_buckets: buckets }),
    ...(replicas === undefined ? {} : { replicas }),
  };
}

/** The report as tables for a person. */
export function renderInspect(report: InspectReport): string {
  const parts: string[] = [];
  if (report.lanes !== undefined) {
    parts.push(
      'Lanes',
      table(
        ['lane', 'depth', 'lag', 'pending'],
        report.lanes.map((lane) => [lane.lane, lane.depth, formatMs(lane.lagMs), lane.pending]),
      ),
    );
    const consumers = report.lanes.flatMap((lane) => lane.consumers.map((consumer) => [lane.lane, consumer.name, consumer.pending, formatMs(consumer.idleMs)]));
    parts.push('', 'Consumers', consumers.length === 0 ? '(none)' : table(['lane', 'consumer', 'pending', 'idle'], consumers));
  }
  if (report.delayed !== undefined) {
    const { delayed } = report;
    const reasons = [...new Set(DUE_BUCKETS.flatMap((bucket) => Object.keys(delayed.byReason[bucket])))].sort();
    parts.push(
      '',
      `Delayed set: ${delayed.total} (reasons from the ${delayed.sampled} due soonest)`,
      table(
        ['due', 'count', ...reasons],
        DUE_BUCKETS.map((bucket) => [bucket, delayed.due[bucket], ...reasons.map((reason) => delayed.byReason[bucket][reason] ?? 0)]),
      ),
    );
  }
  if (report.dead_letters !== undefined) {
    const { dead_letters: dlq } = report;
    const rows = Object.entries(dlq.byCode).sort(([, a], [, b]) => b - a);
    parts.push('', `Dead letters: ${dlq.total}`, rows.length === 0 ? '(none)' : table(['code', 'count'], rows));
  }
  if (report.token_buckets !== undefined) {
    const circuits = (report.replicas ?? []).flatMap((replica) => replica.circuits.map((circuit) => [circuit.provider, replica.consumer, circuit.state]));
    parts.push(
      '',
      'Token buckets',
      report.token_buckets.length === 0
        ? '(none: no provider took tokens recently)'
        : table(['provider', 'tokens', 'last take'], report.token_buckets.map((bucket) => [bucket.provider, bucket.tokens.toFixed(2), bucket.lastTakeAt])),
      '',
      'Circuits (per replica)',
      circuits.length === 0 ? '(none reported)' : table(['provider', 'replica', 'state'], circuits),
    );
  }
  if (report.replicas !== undefined) {
    parts.push(
      '',
      'Dispatcher replicas',
      report.replicas.length === 0
        ? '(none: no dispatcher heartbeat in Redis)'
        : table(
            ['replica', 'config version', 'started', 'heartbeat'],
            report.replicas.map((replica) => [replica.consumer, replica.configVersion, replica.startedAt, replica.heartbeatAt]),
          ),
    );
  }
  return parts.join('\n');
}
