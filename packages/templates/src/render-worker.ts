// The render worker: compiles and renders templates away from the process's own event
// loop and heap. The process gives it one job at a time and stops it when a job runs
// past its hard limit; its heap is capped, so a template that escapes LiquidJS's
// cooperative limits costs a restart, never the process.
import { parentPort } from 'node:worker_threads';
import type { RenderLimits } from './limits.ts';
import type { WorkerItem, WorkerJob, WorkerMessage, WorkerReply } from './render-protocol.ts';
import { CompileFailure, compileVariant, renderVariant, type CompiledVariant, type MjmlCompiler } from './render-variant.ts';

/** Compiled variants held, most recently used last. A few kB each. */
const MAX_COMPILED = 2000;
const compiled = new Map<string, CompiledVariant>();
let mjml: MjmlCompiler | undefined;

const port = parentPort;
if (port === null) throw new Error('render-worker.ts runs as a worker thread only');

port.on('message', (job: WorkerJob) => {
  void handle(job).then((replies) => post({ type: 'result', id: job.id, replies }));
});
warmUp();
post({ type: 'ready' });

/**
 * One render of each kind before the worker says it is ready: the first render of a
 * cold engine takes many times the usual (lazy compilation), and would otherwise count
 * against the first message's render limit.
 */
function warmUp(): void {
  const limits = { renderMs: 1000, memoryBytes: 1_000_000, parseChars: 10_000 };
  const variant = compileVariant(
    { channel: 'email', locale: 'en', subject: '{{ a | upcase }}', text: '{% for i in b %}{{ i }}{% endfor %}', html: '<p>{{ a }}</p>', partials: {} },
    limits,
  );
  renderVariant(variant, { a: 'x', b: [1, 2] }, performance.now() + limits.renderMs, limits);
}

async function handle(job: WorkerJob): Promise<WorkerReply[]> {
  // One message's templates share one allowance of render time, whatever their number
  // of fields; compiling (once per template version) is not counted.
  const allowance = { leftMs: job.limits.renderMs, retried: false };
  const replies: WorkerReply[] = [];
  for (const item of job.items) {
    try {
      replies.push(await renderItem(item, allowance, job.limits));
    } catch (error) {
      // A fault of ours, not of the template: refused all the same, and the worker lives on.
      replies.push({ ok: false, kind: 'render', message: `could not be rendered: ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  return replies;
}

async function renderItem(item: WorkerItem, allowance: { leftMs: number; retried: boolean }, limits: RenderLimits): Promise<WorkerReply> {
  let variant = compiled.get(item.key);
  if (variant === undefined) {
    if (item.source === undefined) return { ok: false, missing: true };
    try {
      if (item.source.mjml !== undefined) mjml ??= await loadMjml();
      variant = compileVariant(item.source, limits, mjml);
    } catch (error) {
      if (!(error instanceof CompileFailure)) throw error;
      return { ok: false, kind: error.kind, field: error.field, message: error.message };
    }
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value ?? '');
  } else {
    compiled.delete(item.key);
  }
  compiled.set(item.key, variant);
  if (item.variables === undefined) return { ok: true, content: {} };
  const started = performance.now();
  let outcome = renderVariant(variant, item.variables, started + allowance.leftMs, limits);
  let spent = performance.now() - started;
  // The limit is wall-clock: a worker the machine did not schedule for a while reaches it
  // on a template that needs microseconds. So a render that ran out of time is tried once
  // more with a fresh allowance (once per message): a template that needs the time fails
  // again, having cost twice the limit.
  if (!outcome.ok && spent >= allowance.leftMs - 1 && !allowance.retried) {
    allowance.retried = true;
    const again = performance.now();
    outcome = renderVariant(variant, item.variables, again + limits.renderMs, limits);
    spent = performance.now() - again;
    allowance.leftMs = limits.renderMs;
  }
  allowance.leftMs -= spent;
  return outcome;
}

/**
 * mjml-browser, the dependency-free build of MJML (docs/dependencies.md), loaded on the
 * first MJML template. It is a browser bundle that expects `window`: defined here, in
 * the worker's own globals, never in the process's, where other code tests for it.
 */
async function loadMjml(): Promise<MjmlCompiler> {
  (globalThis as { window?: unknown }).window ??= globalThis;
  const { default: mjml2html } = await import('mjml-browser');
  return (source) => {
    try {
      // strict: an unknown element or attribute is an error, not a warning in the output.
      // mj-include reads no files in this build: it stays inert.
      return mjml2html(source, { validationLevel: 'strict', keepComments: false }).html;
    } catch (error) {
      const errors = (error as { errors?: readonly { formattedMessage?: string }[] }).errors ?? [];
      // "Line 3 of . (mj-sectionx) — …": the "of ." names a file there is none of.
      const said = errors.map((e) => (e.formattedMessage ?? '').replace(/^Line (\d+) of \. /, 'line $1 ')).filter((m) => m !== '');
      throw new Error(said.length > 0 ? said.join('; ') : error instanceof Error ? error.message : String(error), { cause: error });
    }
  };
}

function post(message: WorkerMessage): void {
  port?.postMessage(message);
}
