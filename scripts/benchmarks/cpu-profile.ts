// Summarises a V8 `.cpuprofile` (node --cpu-prof) into where the busy time went: by area
// (an npm package, one of our packages, Node's internals, GC), by function, and the
// inclusive time of the intake phases we care about. Self time is exact per sample;
// inclusive time only sees synchronous work (an awaited database call shows up as the
// driver's serialise and parse work, not as the wait).
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface Profile {
  /** Monotonic clock, µs: the same clock as process.hrtime in any process of the machine. */
  readonly startTime: number;
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Sampled time the process was not idle, ms. */
  readonly busyMs: number;
  /** Share of busy time, by area, biggest first. */
  readonly areas: readonly { readonly area: string; readonly share: number }[];
  /** Self time share of the busiest functions. */
  readonly functions: readonly {
    readonly name: string;
    readonly area: string;
    readonly share: number;
  }[];
  /** Inclusive (synchronous) time share of named intake phases. */
  readonly phases: Readonly<Record<string, number>>;
}

/** Phases by a function that starts them; time under a nested match counts once. */
const PHASES: readonly {
  readonly phase: string;
  readonly matches: (node: ProfileNode) => boolean;
}[] = [
  {
    phase: 'request JSON.parse (body-parser)',
    matches: (n) =>
      n.callFrame.functionName === 'parse' && n.callFrame.url.includes('/body-parser/'),
  },
  {
    phase: 'Kafka record JSON.parse (parseRecordValue)',
    matches: (n) => n.callFrame.functionName === 'parseRecordValue',
  },
  {
    phase: 'validateMessageRequest (ajv + libphonenumber)',
    matches: (n) => n.callFrame.functionName === 'validateMessageRequest',
  },
  {
    phase: 'acceptMessage + newId',
    matches: (n) =>
      ['acceptMessage', 'newId'].includes(n.callFrame.functionName) &&
      n.callFrame.url.includes('/core/'),
  },
  {
    phase: 'BSON serialize (mongodb driver)',
    matches: (n) => n.callFrame.functionName === 'serialize' && n.callFrame.url.includes('/bson/'),
  },
  {
    phase: 'BSON deserialize (mongodb driver)',
    matches: (n) =>
      n.callFrame.functionName === 'deserialize' && n.callFrame.url.includes('/bson/'),
  },
  {
    phase: 'enqueueRequest (payload JSON + ioredis)',
    matches: (n) => n.callFrame.functionName === 'enqueueRequest',
  },
  {
    phase: 'response JSON (express res.json)',
    matches: (n) => n.callFrame.functionName === 'json' && n.callFrame.url.includes('/express/'),
  },
  {
    phase: 'logging (winston)',
    matches: (n) => n.callFrame.url.includes('/winston') || n.callFrame.url.includes('/logform/'),
  },
  { phase: 'metrics (prom-client)', matches: (n) => n.callFrame.url.includes('/prom-client/') },
];

function areaOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8/native (program)';
  if (url === '') return 'V8 builtins';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [scope = '', name = ''] = url.slice(modules + '/node_modules/'.length).split('/');
    return scope.startsWith('@') ? `${scope}/${name}` : scope;
  }
  const ours = /\/(packages|apps)\/([^/]+)\//.exec(url);
  if (ours !== null)
    return ours[1] === 'packages' ? `@commstrat/${ours[2] ?? ''}` : `apps/${ours[2] ?? ''}`;
  if (url.startsWith('node:'))
    return `node:${url.replace(/^node:(internal\/)?/, '').split('/')[0] ?? ''}`;
  return url;
}

/** Monotonic time in µs, comparable with a profile's sample times. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Where the time went; with `window` (monotonic µs, see `monotonicMicros`) only samples
 * inside it count, so start-up (module loading, type stripping) and warm-up stay out.
 */
export function summariseProfile(
  file: string,
  window?: { readonly from: number; readonly to: number },
  top = 15,
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window === undefined || (at >= window.from && at <= window.to))
      selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const idle = profile.nodes
    .filter((n) => n.callFrame.functionName === '(idle)')
    .reduce((sum, n) => sum + (selfUs.get(n.id) ?? 0), 0);
  const total = [...selfUs.values()].reduce((sum, us) => sum + us, 0);
  const busy = Math.max(1, total - idle);

  const areas = new Map<string, number>();
  const functions = new Map<string, { area: string; us: number }>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0 || node.callFrame.functionName === '(idle)') continue;
    const area = areaOf(node);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const name = `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    const entry = functions.get(name) ?? { area, us: 0 };
    entry.us += us;
    functions.set(name, entry);
  }

  // Inclusive time per phase: walk from the roots, adding a node's self time to every
  // phase matched on its path (each phase once per path).
  const phases = new Map<string, number>();
  const parents = new Set(profile.nodes.flatMap((n) => n.children ?? []));
  const stack: { id: number; active: ReadonlySet<string> }[] = profile.nodes
    .filter((n) => !parents.has(n.id))
    .map((n) => ({ id: n.id, active: new Set<string>() }));
  while (stack.length > 0) {
    const { id, active } = stack.pop() ?? { id: -1, active: new Set<string>() };
    const node = byId.get(id);
    if (node === undefined) continue;
    const here = new Set(active);
    for (const { phase, matches } of PHASES) if (matches(node)) here.add(phase);
    const us = selfUs.get(id) ?? 0;
    for (const phase of here) phases.set(phase, (phases.get(phase) ?? 0) + us);
    for (const child of node.children ?? []) stack.push({ id: child, active: here });
  }

  return {
    busyMs: busy / 1000,
    areas: [...areas]
      .map(([area, us]) => ({ area, share: us / busy }))
      .sort((a, b) => b.share - a.share)
      .slice(0, top),
    functions: [...functions]
      .map(([name, { area, us }]) => ({ name, area, share: us / busy }))
      .sort((a, b) => b.share - a.share)
      .slice(0, top),
    phases: Object.fromEntries(PHASES.map(({ phase }) => [phase, (phases.get(phase) ?? 0) / busy])),
  };
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const repo = /\/((?:packages|apps)\/.*)$/.exec(url);
  return repo?.[1] ?? url.replace(/^file:\/\//, '');
}

export function formatProfile(summary: ProfileSummary): string {
  const pct = (share: number) => `${(share * 100).toFixed(1)}%`;
  return [
    `  busy ${Math.round(summary.busyMs)} ms sampled; by area: ${summary.areas
      .slice(0, 10)
      .map((a) => `${a.area} ${pct(a.share)}`)
      .join(', ')}`,
    `  phases (inclusive): ${Object.entries(summary.phases)
      .map(([phase, share]) => `${phase} ${pct(share)}`)
      .join('; ')}`,
    `  top functions (self): ${summary.functions
      .slice(0, 8)
      .map((f) => `${f.name} ${pct(f.share)}`)
      .join('; ')}`,
  ].join('\n');
}
